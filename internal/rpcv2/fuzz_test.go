package rpcv2

import (
	"reflect"
	"testing"
	"time"
)

// everything has a member of each kind the decoder fills.
type everything struct {
	S  *string               `json:"S"`
	B  *bool                 `json:"B"`
	I  *int64                `json:"I"`
	I8 *int8                 `json:"I8"`
	U  *uint32               `json:"U"`
	F  *float64              `json:"F"`
	T  *time.Time            `json:"T"`
	Bl []byte                `json:"Bl"`
	L  [][]string            `json:"L"`
	M  map[string]*int32     `json:"M"`
	N  *everything           `json:"N"`
	Ns []everything          `json:"Ns"`
	MS map[string]everything `json:"MS"`
}

// FuzzUnmarshal: never a panic, every refusal a SerializationException,
// and the typed decoder agrees with the well-formedness check.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{
		`bf 66"Filter" bf 77"CUSTOMER_AWS_ACCOUNT_ID" 9f 6c"444455556666" ff ff 6a"MaxResults" 01 6b"ProductCode" 70"acme-saas-legacy" ff`,
		`a4 6b"ProductCode" 6f"__ProductCode__" 66"Filter" a1 64"key0" 82 6a"__Member__" 6a"__Member__" 69"NextToken" 6d"__NextToken__" 6a"MaxResults" 01`,
		`a3 61"S" 7f 61"a" ff 61"N" a2 61"I" 3b ffffffffffffffff 61"T" c1 fb 41da556e4007df3b 61"M" bf 61"k" f9 3c00 ff`,
		`a2 62"Ns" 9f a1 61"F" f9 7c00 ff 62"MS" a1 60 a1 62"Bl" 5f 41 00 ff`,
		`d9d9f7 a1 61"L" 81 81 61"x"`,
		`a1 61"x" 9f 9f 9f ff ff ff`,
	} {
		f.Add(h(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var e everything
		err := Unmarshal(b, &e)
		if err != nil {
			serializationCode(t, err)
		}
		var skipped struct{}
		errSkip := Unmarshal(b, &skipped)
		if errSkip != nil {
			serializationCode(t, errSkip)
		}
		if len(b) == 0 {
			return
		}
		valid := Valid(b)
		if (err == nil || errSkip == nil) && valid != nil {
			t.Fatalf("decoded, yet not valid: %v", valid)
		}
		if err != nil {
			return
		}
		// What we decode, we encode, and decode again to the same.
		out, merr := Marshal(e)
		if merr != nil {
			t.Fatal(merr)
		}
		var again everything
		if err := Unmarshal(out, &again); err != nil {
			t.Fatalf("re-decoding %x: %v", out, err)
		}
		out2, _ := Marshal(again)
		if !reflect.DeepEqual(out, out2) {
			t.Fatalf("round trip differs:\n%x\n%x", out, out2)
		}
	})
}
