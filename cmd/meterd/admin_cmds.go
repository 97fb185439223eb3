package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/meterd/meterd/internal/adminapi"
)

const timeLayout = "2006-01-02 15:04:05"

// utc shows a time in the tables' form, "-" for none.
func utc(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(timeLayout)
}

func (c *adminCmd) accounts(args []string) error {
	verb, args, err := c.verb(args, "list", "put")
	if err != nil {
		return err
	}
	fs := c.flags(verb)
	if verb == "list" {
		if err := parse(fs, args); err != nil {
			return err
		}
		cl, err := c.client()
		if err != nil {
			return err
		}
		as, err := cl.Accounts(c.ctx)
		if err != nil {
			return err
		}
		return c.print(as, func(tw *tabwriter.Writer) {
			fmt.Fprintln(tw, "ACCOUNT\tNAME\tACCESS KEYS")
			for _, a := range as {
				var keys []string
				for _, k := range a.AccessKeys {
					key := k.ID
					if k.Resource != "" || k.Platform != "" {
						key += " (" + strings.TrimSpace(k.Platform+" "+k.Resource) + ")"
					}
					keys = append(keys, key)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", a.ID, orDash(a.Name), orDash(strings.Join(keys, ", ")))
			}
		})
	}
	var a adminapi.Account
	var k adminapi.AccessKey
	fs.StringVar(&a.ID, "id", "", "12-digit account id (required)")
	fs.StringVar(&a.Name, "name", "", "account name")
	fs.StringVar(&k.ID, "access-key", "", "add or update this access key id")
	fs.StringVar(&k.Secret, "secret", "", "the access key's secret (required for a new key; omitted: keep the stored one)")
	fs.StringVar(&k.Resource, "resource", "", "the EC2 instance, ECS task or EKS pod the key runs as")
	fs.StringVar(&k.Platform, "platform", "", "ec2, ecs, eks, fargate or agentcore (default ec2)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if a.ID == "" {
		return fmt.Errorf("accounts put: --id is required")
	}
	if k.ID != "" {
		a.AccessKeys = []adminapi.AccessKey{k}
	} else if k.Secret != "" || k.Resource != "" || k.Platform != "" {
		return fmt.Errorf("accounts put: --secret, --resource and --platform need --access-key")
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	if a.Name == "" {
		// Keep the name of an existing account.
		if old, err := cl.Account(c.ctx, a.ID); err == nil {
			a.Name = old.Name
		}
	}
	got, err := cl.PutAccount(c.ctx, a)
	if err != nil {
		return err
	}
	return c.print(got, func(tw *tabwriter.Writer) {
		fmt.Fprintf(tw, "account %s (%s) stored with %d access key(s)\n", got.ID, orDash(got.Name), len(got.AccessKeys))
	})
}

func (c *adminCmd) products(args []string) error {
	verb, args, err := c.verb(args, "list", "put")
	if err != nil {
		return err
	}
	fs := c.flags(verb)
	if verb == "list" {
		if err := parse(fs, args); err != nil {
			return err
		}
		cl, err := c.client()
		if err != nil {
			return err
		}
		ps, err := cl.Products(c.ctx)
		if err != nil {
			return err
		}
		return c.print(ps, func(tw *tabwriter.Writer) {
			fmt.Fprintln(tw, "PRODUCT\tSELLER\tTYPE\tAGREEMENTS\tDIMENSIONS\tKEY VERSIONS\tFULFILLMENT URL\tWEBHOOKS")
			for _, p := range ps {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Code, p.Seller, p.Type, p.Agreements,
					strings.Join(p.Dimensions, ","), orDash(ints(p.PublicKeyVersions)), orDash(p.FulfillmentURL), orDash(strings.Join(p.Webhooks, ",")))
			}
		})
	}
	var p adminapi.Product
	var dims, versions string
	var hooks stringList
	fs.StringVar(&p.Code, "code", "", "product code (required)")
	fs.StringVar(&p.Seller, "seller", "", "the seller's account id (required)")
	fs.StringVar(&p.Type, "type", "saas", "saas, ami or container")
	fs.StringVar(&dims, "dimensions", "", "comma-separated dimensions (required)")
	fs.StringVar(&p.Agreements, "agreements", "", "legacy, concurrent or both (default both)")
	fs.StringVar(&versions, "public-key-versions", "", "comma-separated RegisterUsage key versions, e.g. 1,2")
	fs.StringVar(&p.FulfillmentURL, "fulfillment-url", "", "where subscribe POSTs the registration token")
	fs.Var(&hooks, "webhook", "URL that receives the product's SNS notifications (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	p.Dimensions, p.Webhooks = splitList(dims), hooks
	for _, v := range splitList(versions) {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("--public-key-versions: %q is not a number", v)
		}
		p.PublicKeyVersions = append(p.PublicKeyVersions, n)
	}
	if p.Code == "" {
		return fmt.Errorf("products put: --code is required")
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	got, err := cl.PutProduct(c.ctx, p)
	if err != nil {
		return err
	}
	return c.print(got, func(tw *tabwriter.Writer) {
		fmt.Fprintf(tw, "product %s stored (%s, dimensions %s)\n", got.Code, got.Type, strings.Join(got.Dimensions, ","))
	})
}

func ints(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

func (c *adminCmd) customers(args []string) error {
	verb, args, err := c.verb(args, "list")
	if err != nil {
		return err
	}
	fs := c.flags(verb)
	var f adminapi.CustomerFilter
	fs.StringVar(&f.Product, "product", "", "only this product")
	fs.StringVar(&f.Account, "account", "", "only this buyer account")
	fs.StringVar(&f.Status, "status", "", "only this status: subscribed, unsubscribe-pending, unsubscribed, subscribe-fail")
	if err := parse(fs, args); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	cs, err := cl.Customers(c.ctx, f)
	if err != nil {
		return err
	}
	return c.print(cs, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "PRODUCT\tACCOUNT\tIDENTIFIER\tSTATUS\tACTIVE\tLICENSE ARN\tENTITLEMENTS")
		for _, cu := range cs {
			status := cu.Status
			if !cu.PendingUntil.IsZero() {
				status += " until " + utc(cu.PendingUntil)
			}
			active := "-"
			if cu.Active != nil {
				active = strconv.FormatBool(*cu.Active)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cu.Product, cu.AccountID, orDash(cu.CustomerIdentifier), status, active,
				orDash(cu.LicenseArn), orDash(entitlements(cu.Entitlements)))
		}
	})
}

// entitlements shows entitlements as "users=100, sso=true".
func entitlements(es []adminapi.Entitlement) string {
	var out []string
	for _, e := range es {
		v := e.Value
		var s string
		switch {
		case v.Integer != nil:
			s = strconv.FormatInt(*v.Integer, 10)
		case v.Double != nil:
			s = strconv.FormatFloat(*v.Double, 'g', -1, 64)
		case v.Boolean != nil:
			s = strconv.FormatBool(*v.Boolean)
		case v.String != nil:
			s = strconv.Quote(*v.String)
		}
		out = append(out, e.Dimension+"="+s)
	}
	return strings.Join(out, ", ")
}

func (c *adminCmd) tokens(args []string) error {
	verb, args, err := c.verb(args, "list", "create")
	if err != nil {
		return err
	}
	fs := c.flags(verb)
	var t adminapi.RegistrationToken
	fs.StringVar(&t.Product, "product", "", "the token's product")
	fs.StringVar(&t.AccountID, "account", "", "the buyer account it resolves to")
	if verb == "create" {
		fs.StringVar(&t.Token, "token", "", "the token text (default: a random one, like AWS's)")
		fs.StringVar(&t.TTL, "ttl", "", "how long it lives (default 4h)")
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	if verb == "create" {
		got, err := cl.CreateRegistrationToken(c.ctx, t)
		if err != nil {
			return err
		}
		return c.print(got, func(tw *tabwriter.Writer) {
			fmt.Fprintf(tw, "%s\n", got.Token)
		})
	}
	ts, err := cl.RegistrationTokens(c.ctx, t.Product, t.AccountID)
	if err != nil {
		return err
	}
	return c.print(ts, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "TOKEN\tPRODUCT\tACCOUNT\tEXPIRES (UTC)")
		for _, t := range ts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Token, t.Product, t.AccountID, utc(t.ExpiresAt))
		}
	})
}

func (c *adminCmd) subscribe(args []string) error {
	fs := c.flags("")
	var product string
	var in adminapi.SubscribeRequest
	fs.StringVar(&product, "product", "", "product code (required)")
	fs.StringVar(&in.AccountID, "account", "", "the buyer's account id (required)")
	fs.StringVar(&in.CustomerIdentifier, "customer-identifier", "", "legacy CustomerIdentifier (default: generated for products that accept legacy records)")
	fs.StringVar(&in.OfferID, "offer-id", "", "offer id (default: generated)")
	fs.BoolVar(&in.FreeTrial, "free-trial", false, "a free-trial offer: the fulfillment POST says x-amzn-marketplace-offer-type=free-trial")
	fs.StringVar(&in.TokenTTL, "token-ttl", "", "registration token lifetime (default 4h)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if product == "" || in.AccountID == "" {
		return fmt.Errorf("subscribe: --product and --account are required")
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	sub, err := cl.Subscribe(c.ctx, product, in)
	if err != nil {
		return err
	}
	return c.print(sub, func(tw *tabwriter.Writer) {
		cu := sub.Customer
		fmt.Fprintf(tw, "subscribed:\t%s to %s (%s)\n", cu.AccountID, cu.Product, cu.OfferID)
		fmt.Fprintf(tw, "customer identifier:\t%s\n", orDash(cu.CustomerIdentifier))
		fmt.Fprintf(tw, "license ARN:\t%s\n", cu.LicenseArn)
		fmt.Fprintf(tw, "registration token:\t%s\n", sub.RegistrationToken.Token)
		fmt.Fprintf(tw, "token expires:\t%s UTC\n", utc(sub.RegistrationToken.ExpiresAt))
		switch f := sub.Fulfillment; {
		case f == nil:
			fmt.Fprintf(tw, "fulfillment:\tnone (the product has no fulfillment URL)\n")
		case f.Error != "":
			fmt.Fprintf(tw, "fulfillment:\tPOST %s failed: %s\n", f.URL, f.Error)
		case f.Location != "":
			fmt.Fprintf(tw, "fulfillment:\tPOST %s: HTTP %d, redirect to %s\n", f.URL, f.Status, f.Location)
		default:
			fmt.Fprintf(tw, "fulfillment:\tPOST %s: HTTP %d\n", f.URL, f.Status)
		}
	})
}

func (c *adminCmd) unsubscribe(args []string) error {
	fs := c.flags("")
	var product, account string
	fs.StringVar(&product, "product", "", "product code (required)")
	fs.StringVar(&account, "account", "", "the buyer's account id (required)")
	window := fs.Duration("window", 0, "how long metering is still accepted (default the server's, 1h)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if product == "" || account == "" {
		return fmt.Errorf("unsubscribe: --product and --account are required")
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	cu, err := cl.Unsubscribe(c.ctx, product, account, *window)
	if err != nil {
		return err
	}
	return c.print(cu, func(tw *tabwriter.Writer) {
		fmt.Fprintf(tw, "%s on %s: %s until %s UTC; metering is accepted until then\n", cu.AccountID, cu.Product, cu.Status, utc(cu.PendingUntil))
	})
}

func (c *adminCmd) notifications(args []string) error {
	fs := c.flags("")
	var f adminapi.NotificationFilter
	fs.StringVar(&f.Product, "product", "", "only this product")
	fs.StringVar(&f.Status, "status", "", "only this delivery status: pending, delivered, failed")
	fs.IntVar(&f.Limit, "limit", 0, "at most this many (default 100)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	ns, err := cl.Notifications(c.ctx, f)
	if err != nil {
		return err
	}
	return c.print(ns, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "CREATED (UTC)\tPRODUCT\tACTION\tSTATUS\tATTEMPTS\tNEXT ATTEMPT\tDELIVERED\tLAST ERROR\tURL")
		for _, n := range ns {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", utc(n.CreatedAt), n.ProductCode, n.Action, n.Status, n.Attempts,
				utc(n.NextAttempt), utc(n.DeliveredAt), orDash(n.LastError), n.URL)
		}
	})
}

func (c *adminCmd) keyVersions(args []string) error {
	fs := c.flags("")
	if err := parse(fs, args); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	vs, err := cl.KeyVersions(c.ctx)
	if err != nil {
		return err
	}
	return c.print(vs, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "VERSION\tCURRENT FOR\tRETIRED FOR\tPUBLIC KEY")
		for _, v := range vs {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", v.Version, orDash(strings.Join(v.CurrentFor, ",")), orDash(strings.Join(v.RetiredFor, ",")),
				strings.TrimSuffix(c.endpoint, "/")+v.PublicKeyPath)
		}
	})
}

func (c *adminCmd) state(args []string) error {
	verb, args, err := c.verb(args, "apply", "show")
	if err != nil {
		return err
	}
	fs := c.flags(verb)
	max := 0
	if verb == "apply" {
		max = 1
	}
	pos, err := parseArgs(fs, args, max)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	if verb == "show" {
		st, err := cl.State(c.ctx)
		if err != nil {
			return err
		}
		if c.json {
			return c.print(st, nil)
		}
		return writeYAML(c.stdout, st)
	}
	if len(pos) != 1 {
		return fmt.Errorf("usage: meterd state apply [flags] FILE (- for stdin)")
	}
	var data []byte
	name := pos[0]
	if name == "-" {
		data, err = io.ReadAll(os.Stdin)
		name = "stdin"
	} else {
		data, err = os.ReadFile(name)
		name = filepath.Base(name)
	}
	if err != nil {
		return err
	}
	res, err := cl.ApplyState(c.ctx, name, data)
	if err != nil {
		return err
	}
	return c.print(res, func(tw *tabwriter.Writer) {
		for _, w := range res.Warnings {
			fmt.Fprintf(c.stderr, "warning: %s\n", w)
		}
		fmt.Fprintf(tw, "applied %s: %d accounts, %d products, %d customers, %d registration tokens\n",
			name, res.Accounts, res.Products, res.Customers, res.RegistrationTokens)
	})
}

// writeYAML prints v in the state file's YAML: v's JSON read as YAML (JSON
// is YAML, and the key order stays), with the JSON styling dropped.
func writeYAML(w io.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return err
	}
	var plain func(*yaml.Node)
	plain = func(n *yaml.Node) {
		n.Style = 0
		for _, c := range n.Content {
			plain(c)
		}
	}
	plain(&n)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return err
	}
	return enc.Close()
}
