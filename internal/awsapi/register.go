package awsapi

import (
	"context"

	"github.com/meterd/meterd/internal/awsproto"
	"github.com/meterd/meterd/internal/metering"
)

type registerUsageRequest struct {
	ProductCode      *string           `json:"ProductCode"`
	PublicKeyVersion *awsproto.Integer `json:"PublicKeyVersion"`
	Nonce            *string           `json:"Nonce"`
}

type registerUsageResponse struct {
	PublicKeyRotationTimestamp *awsproto.Timestamp `json:"PublicKeyRotationTimestamp,omitempty"`
	Signature                  string              `json:"Signature"`
}

func (h *Handler) registerUsage(ctx context.Context, caller metering.Caller, body []byte) (any, error) {
	var req registerUsageRequest
	if err := awsproto.Decode(body, &req); err != nil {
		return nil, err
	}
	out, err := h.svc.RegisterUsage(ctx, caller, metering.RegisterUsageInput{
		ProductCode:      req.ProductCode,
		PublicKeyVersion: req.PublicKeyVersion.Int64(),
		Nonce:            req.Nonce,
	})
	if err != nil {
		return nil, err
	}
	resp := registerUsageResponse{Signature: out.Signature}
	if !out.PublicKeyRotationTimestamp.IsZero() {
		resp.PublicKeyRotationTimestamp = &awsproto.Timestamp{Time: out.PublicKeyRotationTimestamp}
	}
	return resp, nil
}
