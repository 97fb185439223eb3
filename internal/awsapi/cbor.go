package awsapi

import (
	"net/http"

	"github.com/meterd/meterd/internal/awsproto"
)

// cborCodec is Smithy RPC v2 CBOR. Placeholder until the CBOR codec lands:
// it answers in JSON.
type cborCodec struct{}

func (cborCodec) checkContentType(string) error                       { return nil }
func (cborCodec) writeResult(w http.ResponseWriter, v any)            { awsproto.WriteJSON(w, v) }
func (cborCodec) writeError(w http.ResponseWriter, e *awsproto.Error) { awsproto.WriteError(w, e) }

func cborOperations(h *Handler) map[string]operation { return map[string]operation{} }
