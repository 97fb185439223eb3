package awsapi

import (
	"errors"
	"testing"

	"github.com/meterd/meterd/internal/awsproto"
)

// TestOperationsDecodeFirst holds serve to what Call.BodyDecoded promises:
// every awsJson1_1 operation refuses a body that is not JSON with a
// SerializationException, whoever calls, before it looks at anything else.
// An operation that succeeded has therefore decoded its body.
func TestOperationsDecodeFirst(t *testing.T) {
	h, svc := newCBORHandler(t)
	if len(h.ops) == 0 {
		t.Fatal("no operations")
	}
	for _, key := range []string{"SELLER", "BUYER", "NOBODY"} {
		caller, _ := svc.Caller(key, "us-east-1")
		for target, op := range h.ops {
			for _, body := range []string{`{"ProductCode":"saas",`, `{"ProductCode":"saas"}}`, `{"ProductCode":"saas" "x":1}`} {
				_, err := op(t.Context(), caller, []byte(body))
				var e *awsproto.Error
				if !errors.As(err, &e) || e.Code != "SerializationException" {
					t.Errorf("%s as %s with %s: %v, want a SerializationException", target, key, body, err)
				}
			}
		}
	}
}
