package metering

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// EncodeAllocations is the compact form every store keeps allocations in:
// [[quantity, ["key","value",…]], …]. Arrays instead of objects, because the
// names would repeat in every row; nil tags leave the second element out, so
// that nil and empty read back as they were written. Nil allocations encode
// as nil (a NULL column).
func EncodeAllocations(allocs []Allocation) ([]byte, error) {
	if allocs == nil {
		return nil, nil
	}
	b := make([]byte, 0, 16+len(allocs)*32)
	b = append(b, '[')
	for i, a := range allocs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, a.Quantity, 10)
		if a.Tags != nil {
			b = append(b, ",["...)
			for j, t := range a.Tags {
				if j > 0 {
					b = append(b, ',')
				}
				k, err := json.Marshal(t.Key)
				if err != nil {
					return nil, err
				}
				v, err := json.Marshal(t.Value)
				if err != nil {
					return nil, err
				}
				b = append(b, k...)
				b = append(b, ',')
				b = append(b, v...)
			}
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	return append(b, ']'), nil
}

// DecodeAllocations reads what EncodeAllocations wrote.
func DecodeAllocations(s string) ([]Allocation, error) {
	var raw [][]json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, fmt.Errorf("allocations %q: %w", s, err)
	}
	out := make([]Allocation, len(raw))
	for i, a := range raw {
		if len(a) < 1 || len(a) > 2 {
			return nil, fmt.Errorf("allocation %d of %q: want [quantity] or [quantity, tags]", i, s)
		}
		if err := json.Unmarshal(a[0], &out[i].Quantity); err != nil {
			return nil, fmt.Errorf("allocation %d of %q: %w", i, s, err)
		}
		if len(a) == 1 {
			continue
		}
		var kv []string
		if err := json.Unmarshal(a[1], &kv); err != nil || len(kv)%2 != 0 {
			return nil, fmt.Errorf("allocation %d of %q: tags are not key/value pairs", i, s)
		}
		tags := make([]Tag, len(kv)/2)
		for j := range tags {
			tags[j] = Tag{Key: kv[2*j], Value: kv[2*j+1]}
		}
		out[i].Tags = tags
	}
	return out, nil
}
