package metering

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Entitlement filter names, as the model spells them.
const (
	FilterCustomerIdentifier = "CUSTOMER_IDENTIFIER"
	FilterDimension          = "DIMENSION"
	FilterCustomerAccountID  = "CUSTOMER_AWS_ACCOUNT_ID"
	FilterLicenseArn         = "LICENSE_ARN"
)

// MaxEntitlementResults is the model's PageSizeInteger maximum, also the
// page size when MaxResults is absent.
const MaxEntitlementResults = 25

// GetEntitlementsInput is a GetEntitlements request as the client sent it.
type GetEntitlementsInput struct {
	ProductCode *string
	Filter      map[string][]string // nil: absent
	NextToken   *string
	MaxResults  *int64
}

// EntitlementRecord is one entitlement of one customer.
type EntitlementRecord struct {
	ProductCode          string
	Dimension            string
	CustomerIdentifier   string
	CustomerAWSAccountID string
	LicenseArn           string
	Value                EntitlementValue
	Expires              time.Time // zero: none
}

// GetEntitlementsOutput is one page.
type GetEntitlementsOutput struct {
	Entitlements []EntitlementRecord
	NextToken    string // empty on the last page
}

// Validate checks the input against the Entitlement model. The service
// models no ValidationException, only InvalidParameterException, so every
// violation is reported with that kind.
func (in *GetEntitlementsInput) Validate() error {
	v := violations{kind: KindInvalidParameter}
	v.str("productCode", in.ProductCode, true, stringRule{min: 1, max: 255})
	if in.NextToken != nil && (*in.NextToken == "" || strings.ContainsAny(*in.NextToken, " \t\r\n\f\v")) {
		v.add(false, quote(*in.NextToken), "nextToken", `must satisfy regular expression pattern: \S+`)
	}
	if in.MaxResults != nil && (*in.MaxResults < 1 || *in.MaxResults > MaxEntitlementResults) {
		v.add(false, fmt.Sprintf("'%d'", *in.MaxResults), "maxResults", fmt.Sprintf("must have value between 1 and %d", MaxEntitlementResults))
	}
	names := make([]string, 0, len(in.Filter))
	for k := range in.Filter {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		switch k {
		case FilterCustomerIdentifier, FilterDimension, FilterCustomerAccountID, FilterLicenseArn:
		default:
			v.add(false, quote(k), "filter", "keys must satisfy enum value set: [CUSTOMER_IDENTIFIER, DIMENSION, CUSTOMER_AWS_ACCOUNT_ID, LICENSE_ARN]")
		}
		if len(in.Filter[k]) < 1 {
			v.add(false, "'[]'", "filter."+k, "must have length greater than or equal to 1")
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	// Both customer filters name the customer two ways [inferred error
	// choice, docs/aws-api.md 6].
	if in.Filter[FilterCustomerIdentifier] != nil && in.Filter[FilterCustomerAccountID] != nil {
		return Errorf(KindInvalidParameter, "Filter may name CUSTOMER_IDENTIFIER or CUSTOMER_AWS_ACCOUNT_ID, not both.")
	}
	return nil
}

// GetEntitlements lists the entitlements of a seller's product. Values in
// one filter are OR-ed, different filters AND-ed.
func (s *Service) GetEntitlements(ctx context.Context, caller Caller, in GetEntitlementsInput) (GetEntitlementsOutput, error) {
	if err := in.Validate(); err != nil {
		return GetEntitlementsOutput{}, err
	}
	cat := s.Catalog()
	product, ok := cat.Product(*in.ProductCode)
	if !ok || product.Seller != caller.AccessKey.AccountID {
		return GetEntitlementsOutput{}, Errorf(KindInvalidParameter, "Product code %s is not a product of account %s.", quote(*in.ProductCode), caller.AccessKey.AccountID)
	}
	match := func(filter string, value string) bool {
		values, ok := in.Filter[filter]
		if !ok {
			return true
		}
		for _, v := range values {
			if v == value {
				return true
			}
		}
		return false
	}
	var all []EntitlementRecord
	for _, cu := range cat.Customers(product.Code) {
		if !cu.ActiveAt(s.clock.Now()) || !match(FilterCustomerIdentifier, cu.CustomerIdentifier) ||
			!match(FilterCustomerAccountID, cu.AccountID) || !match(FilterLicenseArn, cu.LicenseArn) {
			continue
		}
		for _, e := range cu.Entitlements {
			if !match(FilterDimension, e.Dimension) {
				continue
			}
			all = append(all, EntitlementRecord{
				ProductCode:          product.Code,
				Dimension:            e.Dimension,
				CustomerIdentifier:   cu.CustomerIdentifier,
				CustomerAWSAccountID: cu.AccountID,
				LicenseArn:           cu.LicenseArn,
				Value:                e.Value,
				Expires:              e.Expires,
			})
		}
	}

	query := queryDigest(&in)
	offset := 0
	if in.NextToken != nil {
		var err error
		if offset, err = readPageToken(*in.NextToken, query); err != nil {
			return GetEntitlementsOutput{}, err
		}
	}
	size := MaxEntitlementResults
	if in.MaxResults != nil {
		size = int(*in.MaxResults)
	}
	out := GetEntitlementsOutput{}
	if offset < len(all) {
		end := min(offset+size, len(all))
		out.Entitlements = all[offset:end]
		if end < len(all) {
			out.NextToken = pageToken(end, query)
		}
	}
	return out, nil
}

// queryDigest binds a page token to the query it continues.
func queryDigest(in *GetEntitlementsInput) [8]byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00", *in.ProductCode)
	names := make([]string, 0, len(in.Filter))
	for k := range in.Filter {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(h, "%s=%s\x00", k, strings.Join(in.Filter[k], "\x1f"))
	}
	var d [8]byte
	copy(d[:], h.Sum(nil))
	return d
}

// pageToken is opaque to clients: the offset, the query digest and a random
// nonce, so that no two tokens are ever equal (the Go SDK's paginator stops
// on a repeated token, docs/aws-api.md 6).
func pageToken(offset int, query [8]byte) string {
	var b [24]byte
	binary.BigEndian.PutUint64(b[0:8], uint64(offset))
	copy(b[8:16], query[:])
	rand.Read(b[16:24])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func readPageToken(token string, query [8]byte) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != 24 {
		return 0, Errorf(KindInvalidParameter, "NextToken %s is not a token this service issued.", quote(token))
	}
	if hex.EncodeToString(b[8:16]) != hex.EncodeToString(query[:]) {
		return 0, Errorf(KindInvalidParameter, "NextToken %s belongs to another query: send the same ProductCode and Filter.", quote(token))
	}
	off := binary.BigEndian.Uint64(b[0:8])
	if off > 1<<31 {
		return 0, Errorf(KindInvalidParameter, "NextToken %s is not a token this service issued.", quote(token))
	}
	return int(off), nil
}
