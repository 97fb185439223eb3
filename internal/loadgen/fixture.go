package loadgen

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Names the Fixture's state uses.
const (
	SaaSProduct   = "loadgen-saas"
	AMIProduct    = "loadgen-ami"
	SellerAccount = "100000000001"
	BuyerAccount  = "200000000001"
)

// Fixture defaults.
const (
	DefaultCustomers  = 1000
	DefaultDimensions = 32
	DefaultWorkloads  = 64
)

// Fixture is the reference data a load run meters against: one seller with
// a SaaS product (legacy CustomerIdentifier customers, metered with
// BatchMeterUsage) and an AMI product, and one buyer subscribed to the AMI
// product whose workloads meter it with MeterUsage. StateYAML writes it as a
// meterd state file; Config fills a Config to match it.
type Fixture struct {
	// Customers is the number of SaaS customers; default 1000.
	Customers int
	// Dimensions is the number of dimensions of each product; default 32,
	// so that the default customers × dimensions × 24 hours give a
	// BatchMeterUsage run 768,000 distinct records before it repeats one.
	Dimensions int
	// Workloads is the number of AgentCore workloads on the AMI product:
	// each meters a new record per ClientToken. Default 64.
	Workloads int
	// EC2Workloads is the number of EC2 workloads on the AMI product: each
	// meters once per dimension and hour, after which its records are
	// idempotent repeats. Default 0.
	EC2Workloads int
}

func (f Fixture) withDefaults() Fixture {
	if f.Customers <= 0 {
		f.Customers = DefaultCustomers
	}
	if f.Dimensions <= 0 {
		f.Dimensions = DefaultDimensions
	}
	if f.Workloads < 0 || (f.Workloads == 0 && f.EC2Workloads <= 0) {
		f.Workloads = DefaultWorkloads
	}
	f.EC2Workloads = max(f.EC2Workloads, 0)
	return f
}

// CustomerIdentifiers returns the SaaS customers' identifiers.
func (f Fixture) CustomerIdentifiers() []string {
	f = f.withDefaults()
	ids := make([]string, f.Customers)
	for i := range ids {
		ids[i] = fmt.Sprintf("loadgen-customer-%06d", i+1)
	}
	return ids
}

// DimensionNames returns the products' dimensions.
func (f Fixture) DimensionNames() []string {
	f = f.withDefaults()
	dims := make([]string, f.Dimensions)
	for i := range dims {
		dims[i] = fmt.Sprintf("dim-%02d", i+1)
	}
	return dims
}

// SellerCredentials returns the seller's access key.
func (f Fixture) SellerCredentials() []aws.Credentials {
	return []aws.Credentials{{AccessKeyID: "AKIALOADGENSELLER001", SecretAccessKey: "loadgen-seller-secret", Source: "loadgen"}}
}

type workloadKey struct {
	creds    aws.Credentials
	resource string
	platform string
}

func (f Fixture) workloads() []workloadKey {
	f = f.withDefaults()
	var keys []workloadKey
	for i := range f.Workloads {
		keys = append(keys, workloadKey{
			creds:    aws.Credentials{AccessKeyID: fmt.Sprintf("AKIALGAGENT%09d", i+1), SecretAccessKey: fmt.Sprintf("loadgen-agent-secret-%d", i+1), Source: "loadgen"},
			resource: fmt.Sprintf("loadgen-agent-%06d", i+1),
			platform: "agentcore",
		})
	}
	for i := range f.EC2Workloads {
		keys = append(keys, workloadKey{
			creds:    aws.Credentials{AccessKeyID: fmt.Sprintf("AKIALGEC2%011d", i+1), SecretAccessKey: fmt.Sprintf("loadgen-ec2-secret-%d", i+1), Source: "loadgen"},
			resource: fmt.Sprintf("i-0loadgen%08d", i+1),
			platform: "ec2",
		})
	}
	return keys
}

// WorkloadCredentials returns the buyer's workload keys: the AgentCore
// workloads first, then the EC2 ones.
func (f Fixture) WorkloadCredentials() []aws.Credentials {
	var creds []aws.Credentials
	for _, k := range f.workloads() {
		creds = append(creds, k.creds)
	}
	return creds
}

// Config returns a Config for op against this fixture: product, dimensions,
// customers and credentials are set, everything else is left for the
// caller.
func (f Fixture) Config(op Operation) Config {
	cfg := Config{Operation: op, Region: DefaultRegion, Dimensions: f.DimensionNames()}
	switch op {
	case OpBatch:
		cfg.ProductCode = SaaSProduct
		cfg.Customers = f.CustomerIdentifiers()
		cfg.Credentials = f.SellerCredentials()
	case OpMeter:
		cfg.ProductCode = AMIProduct
		cfg.Credentials = f.WorkloadCredentials()
	}
	return cfg
}

// SaaSCustomer is one of the SaaS product's customers.
type SaaSCustomer struct {
	AccountID  string
	Identifier string
}

// SaaSCustomers returns the SaaS product's customers, in the order of
// CustomerIdentifiers. All are subscribed.
func (f Fixture) SaaSCustomers() []SaaSCustomer {
	ids := f.CustomerIdentifiers()
	cs := make([]SaaSCustomer, len(ids))
	for i, id := range ids {
		cs[i] = SaaSCustomer{AccountID: fmt.Sprintf("%012d", 300000000000+i+1), Identifier: id}
	}
	return cs
}

// StateYAML returns the fixture as a meterd state file
// (docs/state-file.md).
func (f Fixture) StateYAML() []byte { return f.stateYAML(true) }

// BaseStateYAML returns the fixture as a state file without the SaaS
// customers, which the caller adds through the service (SaaSCustomers). A
// state file is bounded in the nodes its loader visits, so that aliases
// cannot blow it up, and about 100,000 customers are past that bound.
func (f Fixture) BaseStateYAML() []byte { return f.stateYAML(false) }

func (f Fixture) stateYAML(saasCustomers bool) []byte {
	f = f.withDefaults()
	var b bytes.Buffer
	b.WriteString("# Generated by meterd's load generator (internal/loadgen).\n")
	fmt.Fprintf(&b, "region: %s\n\naccounts:\n", DefaultRegion)
	seller := f.SellerCredentials()[0]
	fmt.Fprintf(&b, "  - id: %q\n    name: loadgen-seller\n    access_keys:\n", SellerAccount)
	fmt.Fprintf(&b, "      - id: %s\n        secret: %s\n", seller.AccessKeyID, seller.SecretAccessKey)
	fmt.Fprintf(&b, "  - id: %q\n    name: loadgen-buyer\n    access_keys:\n", BuyerAccount)
	for _, k := range f.workloads() {
		fmt.Fprintf(&b, "      - id: %s\n        secret: %s\n        resource: %s\n        platform: %s\n",
			k.creds.AccessKeyID, k.creds.SecretAccessKey, k.resource, k.platform)
	}
	quoted := f.DimensionNames()
	for i, d := range quoted {
		quoted[i] = strconv.Quote(d)
	}
	dims := "[" + strings.Join(quoted, ", ") + "]"
	b.WriteString("\nproducts:\n")
	fmt.Fprintf(&b, "  - code: %s\n    seller: %q\n    type: saas\n    agreements: legacy\n    dimensions: %s\n", SaaSProduct, SellerAccount, dims)
	fmt.Fprintf(&b, "  - code: %s\n    seller: %q\n    type: ami\n    dimensions: %s\n", AMIProduct, SellerAccount, dims)
	b.WriteString("\ncustomers:\n")
	fmt.Fprintf(&b, "  - product: %s\n    account_id: %q\n    status: subscribed\n", AMIProduct, BuyerAccount)
	if !saasCustomers {
		return b.Bytes()
	}
	for _, c := range f.SaaSCustomers() {
		fmt.Fprintf(&b, "  - product: %s\n    account_id: %q\n    customer_identifier: %s\n    status: subscribed\n",
			SaaSProduct, c.AccountID, c.Identifier)
	}
	return b.Bytes()
}
