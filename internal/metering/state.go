package metering

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strings"
)

// FieldError is one problem in a State, at a path written with the state
// file's keys (for example "customers[2].product") so that a loader can point
// at the line it came from.
type FieldError struct {
	Path    string
	Message string
}

// StateError lists every problem found in a State.
type StateError struct {
	Problems []FieldError
}

func (e *StateError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Path + ": " + p.Message
	}
	return "invalid state: " + strings.Join(parts, "; ")
}

var reAccountID = regexp.MustCompile(`^[0-9]{12}$`)

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// Check validates st on its own and against the reference data already
// known (base, which may be nil). It returns nil or a *StateError.
func Check(st State, base *Catalog) error {
	var probs []FieldError
	bad := func(path, format string, args ...any) {
		probs = append(probs, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
	}

	accounts := map[string]bool{}
	keys := map[string]bool{}
	for i, a := range st.Accounts {
		p := fmt.Sprintf("accounts[%d]", i)
		if !reAccountID.MatchString(a.ID) {
			bad(p+".id", "account id %q must be 12 digits", a.ID)
		}
		if accounts[a.ID] {
			bad(p+".id", "account %q is listed twice", a.ID)
		}
		accounts[a.ID] = true
		for j, k := range a.AccessKeys {
			kp := fmt.Sprintf("%s.access_keys[%d]", p, j)
			if k.ID == "" {
				bad(kp+".id", "an access key needs an id")
			}
			if k.Secret == "" {
				bad(kp+".secret", "access key %q needs a secret", k.ID)
			}
			if keys[k.ID] {
				bad(kp+".id", "access key %q is listed twice", k.ID)
			}
			if base != nil {
				if old, ok := base.keys[k.ID]; ok && old.AccountID != a.ID {
					bad(kp+".id", "access key %q already belongs to account %s", k.ID, old.AccountID)
				}
			}
			keys[k.ID] = true
			if k.Platform != "" && !k.Platform.Valid() {
				bad(kp+".platform", "platform %q is not one of ec2, ecs, eks, fargate, agentcore", k.Platform)
			}
		}
	}
	hasAccount := func(id string) bool {
		return accounts[id] || (base != nil && base.accounts[id])
	}

	products := map[string]Product{}
	for i, pr := range st.Products {
		p := fmt.Sprintf("products[%d]", i)
		if pr.Code == "" || !reProductCode.MatchString(pr.Code) || strlen(pr.Code) > MaxProductCode {
			bad(p+".code", "product code %q must be 1 to 255 of A-Z a-z 0-9 - / = : _ . @", pr.Code)
		}
		if _, dup := products[pr.Code]; dup {
			bad(p+".code", "product %q is listed twice", pr.Code)
		}
		products[pr.Code] = pr
		if !hasAccount(pr.Seller) {
			bad(p+".seller", "seller %q is not a known account", pr.Seller)
		}
		if !pr.Type.Valid() {
			bad(p+".type", "type %q is not one of saas, ami, container", pr.Type)
		}
		if !pr.Agreements.Valid() {
			bad(p+".agreements", "agreements %q is not one of legacy, concurrent, both", pr.Agreements)
		}
		if len(pr.Dimensions) == 0 {
			bad(p+".dimensions", "a product needs at least one dimension")
		}
		dims := map[string]bool{}
		for j, d := range pr.Dimensions {
			if d == "" || strlen(d) > MaxUsageDimension {
				bad(fmt.Sprintf("%s.dimensions[%d]", p, j), "a dimension name must be 1 to 255 characters")
			}
			if dims[d] {
				bad(fmt.Sprintf("%s.dimensions[%d]", p, j), "dimension %q is listed twice", d)
			}
			dims[d] = true
		}
		if pr.FulfillmentURL != "" && !httpURL(pr.FulfillmentURL) {
			bad(p+".fulfillment_url", "fulfillment URL %q must be an absolute http or https URL", pr.FulfillmentURL)
		}
		for j, h := range pr.Webhooks {
			if !httpURL(h) {
				bad(fmt.Sprintf("%s.webhooks[%d]", p, j), "webhook %q must be an absolute http or https URL", h)
			}
		}
		for j, v := range pr.PublicKeyVersions {
			if v < 1 {
				bad(fmt.Sprintf("%s.public_key_versions[%d]", p, j), "a public key version must be 1 or more")
			}
		}
	}
	product := func(code string) (Product, bool) {
		if pr, ok := products[code]; ok {
			return pr, true
		}
		if base != nil {
			pr, ok := base.products[code]
			return pr, ok
		}
		return Product{}, false
	}

	// The catalog's index finds duplicates in a few bytes a customer: with
	// maps of concatenated keys, checking a million customers took more
	// memory than keeping them.
	customers := newCustomerIndex(st.Customers)
	for i, c := range st.Customers {
		p := fmt.Sprintf("customers[%d]", i)
		pr, ok := product(c.Product)
		if !ok {
			bad(p+".product", "product %q is not defined", c.Product)
		}
		if !reAccountID.MatchString(c.AccountID) {
			bad(p+".account_id", "account id %q must be 12 digits", c.AccountID)
		}
		dupAccount, dupIdentifier, dupLicense := customers.add(st.Customers, i)
		if dupAccount {
			bad(p+".account_id", "account %s is listed twice for product %s", c.AccountID, c.Product)
		}
		if c.CustomerIdentifier != "" {
			if dupIdentifier {
				bad(p+".customer_identifier", "customer identifier %q is listed twice for product %s", c.CustomerIdentifier, c.Product)
			}
			if strlen(c.CustomerIdentifier) > MaxCustomerIdentifier {
				bad(p+".customer_identifier", "a customer identifier must be at most 255 characters")
			}
		}
		if c.LicenseArn != "" {
			if !reLicenseArn.MatchString(c.LicenseArn) {
				bad(p+".license_arn", "license ARN %q does not match %s", c.LicenseArn, PatternLicenseArn)
			}
			if dupLicense {
				bad(p+".license_arn", "license ARN %q is listed twice", c.LicenseArn)
			}
		}
		if !c.Status.Valid() {
			bad(p+".status", "status %q is not one of subscribed, unsubscribe-pending, unsubscribed, subscribe-fail", c.Status)
		}
		for j, e := range c.Entitlements {
			ep := fmt.Sprintf("%s.entitlements[%d]", p, j)
			if ok && !pr.HasDimension(e.Dimension) {
				bad(ep+".dimension", "dimension %q is not a dimension of product %s", e.Dimension, c.Product)
			}
			n := 0
			for _, set := range []bool{e.Value.Integer != nil, e.Value.Double != nil, e.Value.Boolean != nil, e.Value.String != nil} {
				if set {
					n++
				}
			}
			if n != 1 {
				bad(ep+".value", "a value needs exactly one of integer, double, boolean, string")
			}
			// The model's IntegerValue is a 32-bit Integer; SDKs refuse more.
			if i := e.Value.Integer; i != nil && (*i < -1<<31 || *i > 1<<31-1) {
				bad(ep+".value", "an integer entitlement must fit in 32 bits (the API's Integer)")
			}
			if d := e.Value.Double; d != nil && (math.IsNaN(*d) || math.IsInf(*d, 0)) {
				bad(ep+".value", "a double entitlement must be a finite number")
			}
		}
	}
	hasCustomer := func(product, account string) bool {
		if _, ok := customers.byAccount[product].find(st.Customers, account); ok {
			return true
		}
		if base != nil {
			_, ok := base.CustomerByAccount(product, account)
			return ok
		}
		return false
	}

	tokens := map[string]bool{}
	for i, t := range st.RegistrationTokens {
		p := fmt.Sprintf("registration_tokens[%d]", i)
		if t.Token == "" {
			bad(p+".token", "a registration token must not be empty")
		}
		if tokens[t.Token] {
			bad(p+".token", "this registration token is listed twice")
		}
		tokens[t.Token] = true
		if _, ok := product(t.Product); !ok {
			bad(p+".product", "product %q is not defined", t.Product)
		} else if !hasCustomer(t.Product, t.AccountID) {
			bad(p+".account_id", "no customer entry for account %q on product %s", t.AccountID, t.Product)
		}
	}

	if len(probs) > 0 {
		return &StateError{Problems: probs}
	}
	return nil
}
