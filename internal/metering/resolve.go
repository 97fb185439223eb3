package metering

import "context"

// ResolveCustomerOutput names the customer behind a registration token.
type ResolveCustomerOutput struct {
	CustomerIdentifier   string // legacy products only
	ProductCode          string
	CustomerAWSAccountID string
	LicenseArn           string
}

// ResolveCustomer turns a SaaS registration token into its customer. A
// token can be redeemed again until it expires; only the product's seller
// may redeem it.
func (s *Service) ResolveCustomer(ctx context.Context, caller Caller, token *string) (ResolveCustomerOutput, error) {
	var v violations
	v.str("registrationToken", token, true, stringRule{min: 1})
	if err := v.err(); err != nil {
		return ResolveCustomerOutput{}, err
	}
	cat := s.Catalog()
	t, ok := cat.RegistrationToken(*token)
	var product Product
	if ok {
		product, ok = cat.Product(t.Product)
	}
	// Another seller's token reads as unknown: it reveals nothing.
	if !ok || product.Seller != caller.AccessKey.AccountID {
		return ResolveCustomerOutput{}, Errorf(KindInvalidToken, "The registration token is not valid.")
	}
	if !s.clock.Now().Before(t.ExpiresAt) {
		return ResolveCustomerOutput{}, Errorf(KindExpiredToken, "The registration token expired at %s.", t.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z"))
	}
	cu, ok := cat.CustomerByAccount(t.Product, t.AccountID)
	if !ok {
		return ResolveCustomerOutput{}, Errorf(KindInvalidToken, "The registration token is not valid.")
	}
	out := ResolveCustomerOutput{ProductCode: product.Code, CustomerAWSAccountID: cu.AccountID, LicenseArn: cu.LicenseArn}
	// New (Concurrent Agreements) products get no CustomerIdentifier (5, ResolveCustomer).
	if product.Agreements.AcceptsLegacy() {
		out.CustomerIdentifier = cu.CustomerIdentifier
	}
	return out, nil
}
