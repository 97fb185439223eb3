package awsapi

import (
	"context"

	"github.com/meterd/meterd/internal/awsproto"
	"github.com/meterd/meterd/internal/metering"
)

type getEntitlementsRequest struct {
	ProductCode *string             `json:"ProductCode"`
	Filter      map[string][]string `json:"Filter"`
	NextToken   *string             `json:"NextToken"`
	MaxResults  *awsproto.Integer   `json:"MaxResults"`
}

type entitlementValueJSON struct {
	IntegerValue *int64   `json:"IntegerValue,omitempty"`
	DoubleValue  *float64 `json:"DoubleValue,omitempty"`
	BooleanValue *bool    `json:"BooleanValue,omitempty"`
	StringValue  *string  `json:"StringValue,omitempty"`
}

type entitlementJSON struct {
	ProductCode          string               `json:"ProductCode"`
	Dimension            string               `json:"Dimension"`
	CustomerIdentifier   string               `json:"CustomerIdentifier,omitempty"`
	CustomerAWSAccountID string               `json:"CustomerAWSAccountId,omitempty"`
	Value                entitlementValueJSON `json:"Value"`
	ExpirationDate       *awsproto.Timestamp  `json:"ExpirationDate,omitempty"`
	LicenseArn           string               `json:"LicenseArn,omitempty"`
}

type getEntitlementsResponse struct {
	Entitlements []entitlementJSON `json:"Entitlements"`
	NextToken    string            `json:"NextToken,omitempty"`
}

// GetEntitlementsInput converts the wire shape both protocols decode into.
func (r *getEntitlementsRequest) input() metering.GetEntitlementsInput {
	return metering.GetEntitlementsInput{
		ProductCode: r.ProductCode,
		Filter:      r.Filter,
		NextToken:   r.NextToken,
		MaxResults:  r.MaxResults.Int64(),
	}
}

func entitlementsResponse(out metering.GetEntitlementsOutput) getEntitlementsResponse {
	resp := getEntitlementsResponse{Entitlements: make([]entitlementJSON, len(out.Entitlements)), NextToken: out.NextToken}
	for i, e := range out.Entitlements {
		j := entitlementJSON{
			ProductCode:          e.ProductCode,
			Dimension:            e.Dimension,
			CustomerIdentifier:   e.CustomerIdentifier,
			CustomerAWSAccountID: e.CustomerAWSAccountID,
			LicenseArn:           e.LicenseArn,
			Value: entitlementValueJSON{
				IntegerValue: e.Value.Integer,
				DoubleValue:  e.Value.Double,
				BooleanValue: e.Value.Boolean,
				StringValue:  e.Value.String,
			},
		}
		if !e.Expires.IsZero() {
			j.ExpirationDate = &awsproto.Timestamp{Time: e.Expires}
		}
		resp.Entitlements[i] = j
	}
	return resp
}

func (h *Handler) getEntitlements(ctx context.Context, caller metering.Caller, body []byte) (any, error) {
	var req getEntitlementsRequest
	if err := awsproto.Decode(body, &req); err != nil {
		return nil, err
	}
	out, err := h.svc.GetEntitlements(ctx, caller, req.input())
	if err != nil {
		return nil, err
	}
	return entitlementsResponse(out), nil
}

type resolveCustomerRequest struct {
	RegistrationToken *string `json:"RegistrationToken"`
}

type resolveCustomerResponse struct {
	CustomerIdentifier   string `json:"CustomerIdentifier,omitempty"`
	ProductCode          string `json:"ProductCode"`
	CustomerAWSAccountID string `json:"CustomerAWSAccountId"`
	LicenseArn           string `json:"LicenseArn,omitempty"`
}

func (h *Handler) resolveCustomer(ctx context.Context, caller metering.Caller, body []byte) (any, error) {
	var req resolveCustomerRequest
	if err := awsproto.Decode(body, &req); err != nil {
		return nil, err
	}
	out, err := h.svc.ResolveCustomer(ctx, caller, req.RegistrationToken)
	if err != nil {
		return nil, err
	}
	return resolveCustomerResponse{
		CustomerIdentifier:   out.CustomerIdentifier,
		ProductCode:          out.ProductCode,
		CustomerAWSAccountID: out.CustomerAWSAccountID,
		LicenseArn:           out.LicenseArn,
	}, nil
}
