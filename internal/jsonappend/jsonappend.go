// Package jsonappend appends JSON values to byte slices exactly as
// encoding/json encodes them, for the few answers and events meterd
// encodes by hand because reflection cost too much on the hot path.
package jsonappend

import "encoding/json"

// String appends s as json.Marshal encodes a string. Plain ASCII, which
// is what metering strings are, is copied; anything json.Marshal escapes
// (quotes, backslashes, control characters, <, >, &, U+2028, U+2029,
// invalid UTF-8) goes through json.Marshal itself, so the two never
// differ.
func String(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// Array appends xs as a JSON array, each element by elem (a method
// expression such as (*T).appendJSON fits), and nil as
// null, as json.Marshal does for a slice.
func Array[T any](dst []byte, xs []T, elem func(*T, []byte) []byte) []byte {
	if xs == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i := range xs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = elem(&xs[i], dst)
	}
	return append(dst, ']')
}
