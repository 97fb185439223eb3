package awsproto

import (
	"encoding/json"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"time"
)

// Timestamp is an awsJson1_1 timestamp member. AWS's wire format is epoch
// seconds as a JSON number; meterd also reads a JSON string holding epoch
// seconds or an ISO 8601 time, because Perl's Paws sends whatever string its
// caller passed [inferred: docs/aws-api.md 3, wire-captures/perl-paws.txt].
// Times are kept to the millisecond, the precision SDKs send.
type Timestamp struct{ time.Time }

var timestampType = reflect.TypeOf(Timestamp{})

// maxEpoch is 9999-12-31T23:59:59Z; later values are not times anyone meant.
const maxEpoch = 253402300799

var epochDigits = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// isoLayouts are the ISO 8601 forms accepted in strings. A time without a
// zone is UTC, as Paws' callers mean it.
var isoLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05.999999999Z0700",
	"20060102T150405Z",
	"20060102T150405",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02",
}

// UnmarshalJSON reads a number or a string.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if len(b) == 0 {
		return &json.UnmarshalTypeError{Value: "value", Type: timestampType}
	}
	switch c := b[0]; {
	case c == '-' || (c >= '0' && c <= '9'):
		return t.setEpoch(string(b))
	case c == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if epochDigits.MatchString(s) {
			return t.setEpoch(s)
		}
		for _, layout := range isoLayouts {
			if v, err := time.Parse(layout, s); err == nil {
				t.Time = v.UTC().Round(time.Millisecond)
				return nil
			}
		}
		return &json.UnmarshalTypeError{Value: "string " + strconv.Quote(s), Type: timestampType}
	default:
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: timestampType}
	}
}

func (t *Timestamp) setEpoch(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.Abs(f) > maxEpoch {
		return &json.UnmarshalTypeError{Value: "number " + s, Type: timestampType}
	}
	t.Time = time.UnixMilli(int64(math.Round(f * 1000))).UTC()
	return nil
}

// MarshalJSON writes epoch seconds: an integer, or a plain decimal with
// milliseconds. Go's and botocore's parsers accept both.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return t.AppendJSON(nil), nil
}

// AppendJSON appends what MarshalJSON returns.
func (t Timestamp) AppendJSON(b []byte) []byte {
	ms := t.UnixMilli()
	sec, frac := ms/1000, ms%1000
	if frac < 0 {
		sec, frac = sec-1, frac+1000
	}
	b = strconv.AppendInt(b, sec, 10)
	if frac != 0 {
		b = append(b, '.')
		b = append(b, byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
		for b[len(b)-1] == '0' {
			b = b[:len(b)-1]
		}
	}
	return b
}

// TimePtr returns a pointer to t's time, nil for nil.
func (t *Timestamp) TimePtr() *time.Time {
	if t == nil {
		return nil
	}
	v := t.Time
	return &v
}
