package awsproto

import (
	"encoding/json"
	"strconv"
)

// JSONAppender is a result that encodes itself: AppendJSON appends exactly
// the bytes json.Marshal would give for it. WriteJSON uses it for the
// answers sent most often (BatchMeterUsage's 25 echoed records), whose
// encoding by reflection cost a few percent of the server's CPU.
type JSONAppender interface {
	AppendJSON(dst []byte) []byte
}

// AppendString appends s as json.Marshal encodes a string. Plain ASCII,
// which is what metering strings are, is copied; anything json.Marshal
// escapes (quotes, backslashes, control characters, <, >, &, U+2028,
// U+2029, invalid UTF-8) goes through json.Marshal itself, so the two
// never differ.
func AppendString(dst []byte, s string) []byte {
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

// AppendInt appends n as json.Marshal encodes an int64.
func AppendInt(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }
