package main

import (
	"slices"
	"testing"
)

func TestParseMotoFlag(t *testing.T) {
	tests := []struct {
		in      string
		want    motoMode
		wantErr bool
	}{
		{in: "off", want: motoMode{}},
		{in: "", want: motoMode{}},
		{in: "auto", want: motoMode{auto: true}},
		{in: "http://127.0.0.1:5000/", want: motoMode{url: "http://127.0.0.1:5000"}},
		{in: "https://moto.example:443", want: motoMode{url: "https://moto.example:443"}},
		{in: "on", wantErr: true},
		{in: "127.0.0.1:5000", wantErr: true},
		{in: "ftp://127.0.0.1", wantErr: true},
		{in: "http://", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseMotoFlag(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseMotoFlag(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	if !(motoMode{}).off() || (motoMode{auto: true}).off() || (motoMode{url: "http://x"}).off() {
		t.Error("off() is wrong")
	}
}

func TestMotoCommand(t *testing.T) {
	tail := []string{"-c", motoScript, "127.0.0.1", "5000", "us-east-1", "prod", "/tmp/c.txt"}
	tests := []struct {
		name     string
		shebang  string
		wantName string
		wantPre  []string
	}{
		{"Interpreter", "#!/root/.pyenv/versions/3.11.7/bin/python\n", "/root/.pyenv/versions/3.11.7/bin/python", nil},
		{"InterpreterFlags", "#!/usr/bin/python3 -s\n", "/usr/bin/python3", []string{"-s"}},
		{"Env", "#!/usr/bin/env python3\n", "/usr/bin/env", []string{"python3"}},
		{"PyenvShim", "#!/usr/bin/env bash\n", "python3", nil},
		{"NoShebang", "", "python3", nil},
		{"Binary", "\x7fELF\x02\x01", "python3", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, args := motoCommand(tt.shebang, "127.0.0.1", 5000, "us-east-1", "prod", "/tmp/c.txt")
			if want := append(slices.Clone(tt.wantPre), tail...); name != tt.wantName || !slices.Equal(args, want) {
				t.Errorf("got %s %q, want %s %q", name, args, tt.wantName, want)
			}
		})
	}
}
