package jsonappend

import (
	"encoding/json"
	"testing"
)

func TestString(t *testing.T) {
	for _, s := range []string{"", "plain", "a\"b", `back\slash`, "<x>&", "\t\n\x00\x1f\x7f", "é日本", "\u2028\u2029", "bad\xffutf8"} {
		want, _ := json.Marshal(s)
		if got := String([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("String(%q) = %s, want %s", s, got[1:], want)
		}
	}
}

func TestArray(t *testing.T) {
	num := func(n *int, b []byte) []byte { return append(b, byte('0'+*n)) }
	for _, c := range []struct {
		xs   []int
		want string
	}{{nil, "null"}, {[]int{}, "[]"}, {[]int{1}, "[1]"}, {[]int{1, 2, 3}, "[1,2,3]"}} {
		if got := string(Array(nil, c.xs, num)); got != c.want {
			t.Errorf("Array(%v) = %s, want %s", c.xs, got, c.want)
		}
	}
}
