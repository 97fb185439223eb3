package awsapi

import (
	"context"
	"net/http"

	"github.com/meterd/meterd/internal/awsproto"
	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/rpcv2"
)

// cborCodec is Smithy RPC v2 CBOR (docs/aws-api.md 4). Every answer on this
// path is CBOR with the Smithy-Protocol header, errors included (SigV4,
// routing and body errors too): smithy-go reads an error's code only from
// the CBOR body's __type.
type cborCodec struct{}

func (cborCodec) checkContentType(ct string) error                    { return rpcv2.CheckContentType(ct) }
func (cborCodec) writeResult(w http.ResponseWriter, v any)            { rpcv2.WriteResponse(w, v) }
func (cborCodec) writeError(w http.ResponseWriter, e *awsproto.Error) { rpcv2.WriteError(w, e) }

// cborOperations are the operations served over RPC v2 CBOR, keyed as
// route builds the target from the path: "{Service}.{Operation}". Only the
// Entitlement service has the protocol in its model. The awsJson1_1-only
// operations (all of Metering) answer UnknownOperationException here, with
// a message that says where they are served; New must have set h.ops.
func cborOperations(h *Handler) map[string]operation {
	ops := map[string]operation{
		EntitlementPrefix + "GetEntitlements": h.getEntitlementsCBOR,
	}
	for target := range h.ops {
		if _, ok := ops[target]; !ok {
			ops[target] = jsonOnly(target)
		}
	}
	return ops
}

func jsonOnly(target string) operation {
	return func(context.Context, metering.Caller, []byte) (any, error) {
		return nil, awsproto.Errorf(http.StatusBadRequest, "UnknownOperationException",
			"%s is not served over Smithy RPC v2 CBOR; send it as awsJson1_1 (POST / with X-Amz-Target: %s).", target, target)
	}
}

// getEntitlementsCBOR is getEntitlements with a CBOR body. The request and
// response shapes are the JSON ones: both protocols name members by the
// model, and rpcv2 reads the same struct tags.
func (h *Handler) getEntitlementsCBOR(ctx context.Context, caller metering.Caller, body []byte) (any, error) {
	var req getEntitlementsRequest
	if err := rpcv2.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	out, err := h.svc.GetEntitlements(ctx, caller, req.input())
	if err != nil {
		return nil, err
	}
	return entitlementsResponse(out), nil
}
