package metering

import (
	"context"
	"fmt"
	"time"
)

// UsageRecordInput is one BatchMeterUsage UsageRecord as the client sent it.
type UsageRecordInput struct {
	Timestamp            *time.Time
	CustomerIdentifier   *string
	Dimension            *string
	Quantity             *int64
	UsageAllocations     []AllocationInput
	CustomerAWSAccountID *string
	LicenseArn           *string
}

// BatchMeterUsageInput is a BatchMeterUsage request as the client sent it.
type BatchMeterUsageInput struct {
	UsageRecords []UsageRecordInput // nil: absent
	ProductCode  *string
}

// Validate checks the input against the model's constraints.
func (in *BatchMeterUsageInput) Validate() error {
	var v violations
	if in.UsageRecords == nil {
		v.add(false, "null", "usageRecords", "must not be null")
	} else {
		v.listLen("usageRecords", len(in.UsageRecords), 0, MaxUsageRecords, false)
	}
	v.str("productCode", in.ProductCode, false, ruleProductCode)
	for i, r := range in.UsageRecords {
		p := fmt.Sprintf("usageRecords.%d.member", i+1)
		if r.Timestamp == nil {
			v.add(false, "null", p+".timestamp", "must not be null")
		}
		v.str(p+".customerIdentifier", r.CustomerIdentifier, false, ruleCustomerID)
		v.str(p+".dimension", r.Dimension, true, ruleDimension)
		v.quantity(p+".quantity", r.Quantity, false)
		v.allocations(p+".usageAllocations", r.UsageAllocations)
		v.str(p+".customerAWSAccountId", r.CustomerAWSAccountID, false, ruleAccountID)
		v.str(p+".licenseArn", r.LicenseArn, false, ruleLicenseArn)
	}
	return v.err()
}

// RecordStatus is a BatchMeterUsage per-record outcome.
type RecordStatus string

// Per-record outcomes, as AWS names them.
const (
	StatusSuccess               RecordStatus = "Success"
	StatusCustomerNotSubscribed RecordStatus = "CustomerNotSubscribed"
	StatusDuplicateRecord       RecordStatus = "DuplicateRecord"
)

// RecordResult is the outcome of the input record at Index.
type RecordResult struct {
	Index            int
	MeteringRecordID string // set on Success
	Status           RecordStatus
}

// BatchMeterUsageOutput lists one result per input record, in input order.
type BatchMeterUsageOutput struct {
	Results []RecordResult
}

func nonEmpty(s *string) bool { return s != nil && *s != "" }

// BatchMeterUsage meters SaaS usage for a seller's customers. Errors reject
// the whole batch; per-record outcomes (not subscribed, duplicate) do not.
func (s *Service) BatchMeterUsage(ctx context.Context, caller Caller, in BatchMeterUsageInput) (BatchMeterUsageOutput, error) {
	if err := in.Validate(); err != nil {
		return BatchMeterUsageOutput{}, err
	}
	cat := s.Catalog()
	seller := caller.AccessKey.AccountID

	// ProductCode "" is the model's default, so it means absent (5, BatchMeterUsage).
	var callProduct *Product
	if nonEmpty(in.ProductCode) {
		p, ok := cat.Product(*in.ProductCode)
		// Another seller's product answers as if unknown: a tenant learns
		// nothing about products it does not own.
		if !ok || p.Seller != seller {
			return BatchMeterUsageOutput{}, Errorf(KindInvalidProductCode, "Product code %s is not a product of account %s.", quote(*in.ProductCode), seller)
		}
		callProduct = &p
	}

	now := s.clock.Now()
	type planned struct {
		index int
		rec   Record
	}
	plan := make([]planned, 0, len(in.UsageRecords))
	out := BatchMeterUsageOutput{Results: make([]RecordResult, len(in.UsageRecords))}
	var batchProduct string // one product per call
	for i, r := range in.UsageRecords {
		n := i + 1
		quantity := int64(0)
		if r.Quantity != nil {
			quantity = *r.Quantity
		}
		allocs, err := checkAllocations(r.UsageAllocations, quantity)
		if err != nil {
			return BatchMeterUsageOutput{}, err
		}

		var (
			product  Product
			customer Customer
			found    bool
			identity IdentityKind
		)
		if nonEmpty(r.LicenseArn) {
			// Concurrent Agreements: the license names product and customer.
			identity = IdentityLicense
			arn := *r.LicenseArn
			if nonEmpty(r.CustomerIdentifier) {
				return BatchMeterUsageOutput{}, Errorf(KindInvalidCustomerIdentifier, "Usage record %d: a record with a LicenseArn names its customer by CustomerAWSAccountId, not CustomerIdentifier.", n)
			}
			if !nonEmpty(r.CustomerAWSAccountID) {
				return BatchMeterUsageOutput{}, Errorf(KindInvalidCustomerIdentifier, "Usage record %d: CustomerAWSAccountId is required with a LicenseArn.", n)
			}
			c, ok := cat.CustomerByLicense(arn)
			p, _ := cat.Product(c.Product)
			if !ok || p.Seller != seller {
				return BatchMeterUsageOutput{}, Errorf(KindInvalidLicense, "Usage record %d: LicenseArn %s is not a license of a product of account %s.", n, quote(arn), seller)
			}
			if c.AccountID != *r.CustomerAWSAccountID {
				return BatchMeterUsageOutput{}, Errorf(KindInvalidLicense, "Usage record %d: LicenseArn %s does not belong to customer account %s.", n, quote(arn), *r.CustomerAWSAccountID)
			}
			if !p.Agreements.AcceptsConcurrent() {
				return BatchMeterUsageOutput{}, Errorf(KindInvalidLicense, "Usage record %d: product %s does not use Concurrent Agreements; meter it with ProductCode and a customer.", n, p.Code)
			}
			if callProduct != nil && callProduct.Code != p.Code {
				return BatchMeterUsageOutput{}, Errorf(KindInvalidLicense, "Usage record %d: LicenseArn %s is for product %s, not %s.", n, quote(arn), p.Code, callProduct.Code)
			}
			product, customer, found = p, c, true
		} else {
			identity = IdentityProduct
			if callProduct == nil {
				return BatchMeterUsageOutput{}, Errorf(KindInvalidProductCode, "Usage record %d has no LicenseArn, so the request needs a ProductCode.", n)
			}
			product = *callProduct
			if !product.Agreements.AcceptsLegacy() {
				return BatchMeterUsageOutput{}, Errorf(KindInvalidProductCode, "Product %s uses Concurrent Agreements: send LicenseArn and CustomerAWSAccountId in each usage record, and no ProductCode.", product.Code)
			}
			byID, byAcct := nonEmpty(r.CustomerIdentifier), nonEmpty(r.CustomerAWSAccountID)
			// "Must be provided … but not both" (CHANGELOG v1.27.0). AWS does
			// not document the error; InvalidCustomerIdentifier is the
			// modelled one closest to it [inferred].
			switch {
			case byID && byAcct:
				return BatchMeterUsageOutput{}, Errorf(KindInvalidCustomerIdentifier, "Usage record %d: provide CustomerIdentifier or CustomerAWSAccountId, not both.", n)
			case byID:
				customer, found = cat.CustomerByIdentifier(product.Code, *r.CustomerIdentifier)
			case byAcct:
				customer, found = cat.CustomerByAccount(product.Code, *r.CustomerAWSAccountID)
			default:
				return BatchMeterUsageOutput{}, Errorf(KindInvalidCustomerIdentifier, "Usage record %d: provide CustomerIdentifier or CustomerAWSAccountId.", n)
			}
		}
		if batchProduct != "" && product.Code != batchProduct {
			return BatchMeterUsageOutput{}, Errorf(KindInvalidLicense, "Usage record %d is for product %s, earlier records for %s: one call meters one product.", n, product.Code, batchProduct)
		}
		batchProduct = product.Code
		if !product.HasDimension(*r.Dimension) {
			return BatchMeterUsageOutput{}, Errorf(KindInvalidUsageDimension, "Usage record %d: dimension %s is not defined for product %s.", n, quote(*r.Dimension), product.Code)
		}
		ts := r.Timestamp.UTC()
		if err := s.checkWindow(ts, now, s.cfg.BatchWindow, true); err != nil {
			e := err.(*Error)
			e.Message = fmt.Sprintf("Usage record %d: %s", n, e.Message)
			return BatchMeterUsageOutput{}, e
		}

		out.Results[i] = RecordResult{Index: i, Status: StatusCustomerNotSubscribed}
		if !found || !customer.ActiveAt(now) {
			continue
		}
		rec := Record{
			Operation:          "BatchMeterUsage",
			Seller:             seller,
			ProductCode:        product.Code,
			Identity:           identity,
			CustomerAccountID:  customer.AccountID,
			CustomerIdentifier: customer.CustomerIdentifier,
			LicenseArn:         customer.LicenseArn,
			CallerAccountID:    seller,
			AccessKeyID:        caller.AccessKey.ID,
			Dimension:          *r.Dimension,
			Timestamp:          ts,
			Quantity:           quantity,
			Allocations:        allocs,
			CreatedAt:          now,
			Fingerprint:        fingerprint("", "", quantity, allocs),
		}
		// Identity by ProductCode and by LicenseArn are separate keys: AWS
		// bills both when a seller sends both (7.4).
		if identity == IdentityLicense {
			rec.Key = HourKey(ts, "bm-license", customer.LicenseArn, rec.Dimension)
		} else {
			rec.Key = HourKey(ts, "bm-product", product.Code, customer.AccountID, rec.Dimension)
		}
		rec.ID = s.recordID(rec.Key)
		plan = append(plan, planned{index: i, rec: rec})
	}

	if len(plan) == 0 {
		return out, nil
	}
	recs := make([]Record, len(plan))
	for i, p := range plan {
		recs[i] = p.rec
	}
	stored, err := s.store.PutRecords(ctx, recs)
	if err != nil {
		return BatchMeterUsageOutput{}, err
	}
	for i, p := range plan {
		got := stored[i]
		res := &out.Results[p.index]
		// The stored record is this one or an identical earlier one. (Ids
		// cannot tell: a key's id is the same whoever stored it.)
		if got.Fingerprint == p.rec.Fingerprint {
			res.Status, res.MeteringRecordID = StatusSuccess, got.ID
		} else {
			res.Status = StatusDuplicateRecord
		}
	}
	return out, nil
}
