package adminapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/statefile"
)

// Body limits: a state file may be large, a resource is not.
const (
	maxBody      = 1 << 20
	maxStateBody = 16 << 20
)

// decode reads a JSON body into v, refusing unknown fields so that a typo
// is an error, not a silently ignored key. An empty body is allowed only
// when emptyOK.
func decode(w http.ResponseWriter, r *http.Request, v any, emptyOK bool) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	switch {
	case errors.Is(err, io.EOF) && emptyOK:
		return nil
	case errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, CodeValidation, "The request needs a JSON body.")
	case err != nil:
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errorf(http.StatusBadRequest, CodeValidation, "The request body is not valid JSON for this route: %v.", err)
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, CodeValidation, "The request body holds more than one JSON value.")
	}
	return nil
}

// samePathValue checks that a body repeating the path's key agrees with it.
func samePathValue(name, inPath string, inBody *string) error {
	if *inBody != "" && *inBody != inPath {
		return errorf(http.StatusBadRequest, CodeValidation, "The body's %s %q differs from the path's %q.", name, *inBody, inPath)
	}
	*inBody = inPath
	return nil
}

func (s *Server) now() time.Time { return s.o.Clock.Now() }

func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request) error {
	out := []Account{}
	for _, a := range s.o.Service.Catalog().State().Accounts {
		out = append(out, accountOut(a))
	}
	return writeJSON(w, http.StatusOK, out)
}

func findAccount(cat *metering.Catalog, id string) (metering.Account, bool) {
	for _, a := range cat.State().Accounts {
		if a.ID == id {
			return a, true
		}
	}
	return metering.Account{}, false
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request) error {
	a, ok := findAccount(s.o.Service.Catalog(), r.PathValue("id"))
	if !ok {
		return errorf(http.StatusNotFound, CodeNotFound, "Account %s does not exist.", r.PathValue("id"))
	}
	return writeJSON(w, http.StatusOK, accountOut(a))
}

// putAccount creates or updates an account. Access keys it lists are added
// or updated; keys it does not list are kept. A listed key without a
// secret keeps the secret it has.
func (s *Server) putAccount(w http.ResponseWriter, r *http.Request) error {
	var in Account
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := samePathValue("id", id, &in.ID); err != nil {
		return err
	}
	cat := s.o.Service.Catalog()
	_, existed := findAccount(cat, id)
	a := in.domain()
	for i, k := range a.AccessKeys {
		if old, ok := cat.AccessKey(k.ID); ok && k.Secret == "" && old.AccountID == id {
			a.AccessKeys[i].Secret = old.Secret
		}
	}
	if err := s.o.Service.ApplyState(r.Context(), metering.State{Accounts: []metering.Account{a}}); err != nil {
		return resourceError(err, "accounts[0].")
	}
	stored, _ := findAccount(s.o.Service.Catalog(), id)
	return writeJSON(w, createdOrOK(existed), accountOut(stored))
}

func createdOrOK(existed bool) int {
	if existed {
		return http.StatusOK
	}
	return http.StatusCreated
}

func (s *Server) listProducts(w http.ResponseWriter, r *http.Request) error {
	out := []Product{}
	for _, p := range s.o.Service.Catalog().State().Products {
		out = append(out, productOut(p))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) product(code string) (metering.Product, error) {
	p, ok := s.o.Service.Catalog().Product(code)
	if !ok {
		return p, errorf(http.StatusNotFound, CodeNotFound, "Product %s does not exist.", code)
	}
	return p, nil
}

func (s *Server) getProduct(w http.ResponseWriter, r *http.Request) error {
	p, err := s.product(r.PathValue("code"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, productOut(p))
}

// putProduct creates or replaces a product.
func (s *Server) putProduct(w http.ResponseWriter, r *http.Request) error {
	var in Product
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	code := r.PathValue("code")
	if err := samePathValue("code", code, &in.Code); err != nil {
		return err
	}
	_, existed := s.o.Service.Catalog().Product(code)
	if err := s.o.Service.ApplyState(r.Context(), metering.State{Products: []metering.Product{in.domain()}}); err != nil {
		return resourceError(err, "products[0].")
	}
	p, err := s.product(code)
	if err != nil {
		return err
	}
	return writeJSON(w, createdOrOK(existed), productOut(p))
}

// listCustomers lists agreements, filtered by ?product=, ?account= and
// ?status=.
func (s *Server) listCustomers(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	product, account, status := q.Get("product"), q.Get("account"), q.Get("status")
	if product != "" {
		if _, err := s.product(product); err != nil {
			return err
		}
	}
	now := s.now()
	out := []Customer{}
	for _, c := range s.o.Service.Catalog().State().Customers {
		if (product == "" || c.Product == product) && (account == "" || c.AccountID == account) && (status == "" || string(c.Status) == status) {
			out = append(out, customerOut(c, now))
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) customer(product, account string) (metering.Customer, error) {
	if _, err := s.product(product); err != nil {
		return metering.Customer{}, err
	}
	c, ok := s.o.Service.Catalog().CustomerByAccount(product, account)
	if !ok {
		return c, errorf(http.StatusNotFound, CodeNotFound, "Account %s has no agreement for product %s.", account, product)
	}
	return c, nil
}

func (s *Server) getCustomer(w http.ResponseWriter, r *http.Request) error {
	c, err := s.customer(r.PathValue("code"), r.PathValue("account"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, customerOut(c, s.now()))
}

// putCustomer creates or replaces an agreement as a state file's customer
// entry does: fields left out take their defaults (status subscribed).
// A change of entitlements notifies the product's webhooks
// (entitlement-updated).
func (s *Server) putCustomer(w http.ResponseWriter, r *http.Request) error {
	var in Customer
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	product, account := r.PathValue("code"), r.PathValue("account")
	if _, err := s.product(product); err != nil {
		return err
	}
	if err := samePathValue("product", product, &in.Product); err != nil {
		return err
	}
	if err := samePathValue("account_id", account, &in.AccountID); err != nil {
		return err
	}
	_, existed := s.o.Service.Catalog().CustomerByAccount(product, account)
	if err := s.o.Service.ApplyState(r.Context(), metering.State{Customers: []metering.Customer{in.domain()}}); err != nil {
		return resourceError(err, "customers[0].")
	}
	c, err := s.customer(product, account)
	if err != nil {
		return err
	}
	return writeJSON(w, createdOrOK(existed), customerOut(c, s.now()))
}

// putEntitlements replaces one customer's entitlements and leaves the rest
// of the agreement as it is.
func (s *Server) putEntitlements(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Entitlements []Entitlement `json:"entitlements"`
	}
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	c, err := s.customer(r.PathValue("code"), r.PathValue("account"))
	if err != nil {
		return err
	}
	c.Entitlements = entitlementsIn(in.Entitlements)
	if err := s.o.Service.ApplyState(r.Context(), metering.State{Customers: []metering.Customer{c}}); err != nil {
		return resourceError(err, "customers[0].")
	}
	if c, err = s.customer(c.Product, c.AccountID); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, customerOut(c, s.now()))
}

func parseDuration(name, text string) (time.Duration, error) {
	if text == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(text)
	if err != nil || d <= 0 {
		return 0, errorf(http.StatusBadRequest, CodeValidation, "%s %q is not a positive duration like 4h or 90s.", name, text)
	}
	return d, nil
}

// subscribe does what AWS does when a buyer accepts an offer (through
// Service.Subscribe), then what the buyer's browser does: POST the
// registration token to the product's fulfillment URL.
func (s *Server) subscribe(w http.ResponseWriter, r *http.Request) error {
	var in SubscribeRequest
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	ttl, err := parseDuration("token_ttl", in.TokenTTL)
	if err != nil {
		return err
	}
	out, err := s.o.Service.Subscribe(r.Context(), metering.SubscribeInput{
		ProductCode: r.PathValue("code"), AccountID: in.AccountID, CustomerIdentifier: in.CustomerIdentifier,
		OfferID: in.OfferID, FreeTrial: in.FreeTrial, TokenTTL: ttl,
	})
	if err != nil {
		return resourceError(err, "customers[0].")
	}
	sub := Subscription{Customer: customerOut(out.Customer, s.now()), RegistrationToken: tokenOut(out.Token)}
	if out.FulfillmentURL != "" {
		f := s.postFulfillment(r.Context(), out.FulfillmentURL, out.Token.Token, out.Customer.FreeTrial)
		sub.Fulfillment = &f
		s.o.Logger.Info("admin api: posted registration token to fulfillment URL",
			"product", out.Customer.Product, "account", out.Customer.AccountID, "url", f.URL, "status", f.Status, "error", f.Error)
	}
	return writeJSON(w, http.StatusCreated, sub)
}

// postFulfillment POSTs the registration token as the buyer's browser does
// on AWS (docs/aws-api.md 7.8): an application/x-www-form-urlencoded form
// with x-amzn-marketplace-token, and x-amzn-marketplace-offer-type for free
// trials.
func (s *Server) postFulfillment(ctx context.Context, target, token string, freeTrial bool) Fulfillment {
	f := Fulfillment{URL: target}
	form := url.Values{"x-amzn-marketplace-token": {token}}
	if freeTrial {
		form.Set("x-amzn-marketplace-offer-type", "free-trial")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		f.Error = err.Error()
		return f
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "meterd (simulated buyer browser)")
	resp, err := s.o.Fulfillment.Do(req)
	if err != nil {
		f.Error = err.Error()
		return f
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	f.Status, f.Location = resp.StatusCode, resp.Header.Get("Location")
	return f
}

// unsubscribe starts a buyer's unsubscribe: unsubscribe-pending now,
// unsubscribe-success when the window ends.
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) error {
	var in UnsubscribeRequest
	if err := decode(w, r, &in, true); err != nil {
		return err
	}
	window, err := parseDuration("window", in.Window)
	if err != nil {
		return err
	}
	product, account := r.PathValue("code"), r.PathValue("account")
	if _, err := s.customer(product, account); err != nil {
		return err
	}
	c, err := s.o.Service.Unsubscribe(r.Context(), product, account, window)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, customerOut(c, s.now()))
}

// listTokens lists registration tokens, filtered by ?product= and
// ?account=. Tokens are shown: the admin is the seller who receives them.
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	product, account := q.Get("product"), q.Get("account")
	out := []RegistrationToken{}
	for _, t := range s.o.Service.Catalog().State().RegistrationTokens {
		if (product == "" || t.Product == product) && (account == "" || t.AccountID == account) {
			out = append(out, tokenOut(t))
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ExpiresAt.Before(out[j].ExpiresAt) })
	return writeJSON(w, http.StatusOK, out)
}

// createToken adds a registration token for an existing customer.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var in RegistrationToken
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	if !in.ExpiresAt.IsZero() {
		return errorf(http.StatusBadRequest, CodeValidation, "Give ttl, not expires_at.")
	}
	ttl, err := parseDuration("ttl", in.TTL)
	if err != nil {
		return err
	}
	if ttl == 0 {
		ttl = statefile.DefaultTTL
	}
	if _, err := s.customer(in.Product, in.AccountID); err != nil {
		return err
	}
	if in.Token == "" {
		in.Token = newRegistrationToken()
	} else if _, taken := s.o.Service.Catalog().RegistrationToken(in.Token); taken {
		return errorf(http.StatusConflict, CodeConflict, "This registration token exists already.")
	}
	t := metering.RegistrationToken{Token: in.Token, Product: in.Product, AccountID: in.AccountID, ExpiresAt: s.now().Add(ttl)}
	if err := s.o.Service.ApplyState(r.Context(), metering.State{RegistrationTokens: []metering.RegistrationToken{t}}); err != nil {
		return resourceError(err, "registration_tokens[0].")
	}
	return writeJSON(w, http.StatusCreated, tokenOut(t))
}

// newRegistrationToken makes a token like AWS's: base64, which may hold +
// and /, and here always ends in = (50 bytes are not a multiple of 3).
func newRegistrationToken() string {
	b := make([]byte, 50)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// keyVersions lists the RegisterUsage key versions products use; the PEM
// of each is public at /keys/register-usage/{N}.pem.
func (s *Server) keyVersions(w http.ResponseWriter, r *http.Request) error {
	byVersion := map[int]*KeyVersion{}
	for _, p := range s.o.Service.Catalog().State().Products {
		versions := p.PublicKeyVersionsOrDefault()
		newest := 0
		for _, v := range versions {
			newest = max(newest, v)
		}
		for _, v := range versions {
			kv := byVersion[v]
			if kv == nil {
				kv = &KeyVersion{Version: v, PublicKeyPath: "/keys/register-usage/" + strconv.Itoa(v) + ".pem"}
				byVersion[v] = kv
			}
			if v == newest {
				kv.CurrentFor = append(kv.CurrentFor, p.Code)
			} else {
				kv.RetiredFor = append(kv.RetiredFor, p.Code)
			}
		}
	}
	out := []KeyVersion{}
	for _, kv := range byVersion {
		out = append(out, *kv)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return writeJSON(w, http.StatusOK, out)
}

// notifications lists webhook deliveries, newest first, filtered by
// ?product=, ?status= (pending, delivered, failed) and ?limit= (default
// 100).
func (s *Server) notifications(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := metering.NotificationFilter{ProductCode: q.Get("product"), Status: metering.DeliveryStatus(q.Get("status"))}
	switch f.Status {
	case "", metering.DeliveryPending, metering.DeliveryDelivered, metering.DeliveryFailed:
	default:
		return errorf(http.StatusBadRequest, CodeValidation, "status %q is not one of pending, delivered, failed.", f.Status)
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			return errorf(http.StatusBadRequest, CodeValidation, "limit %q is not a number from 1 to 1000.", l)
		}
		f.Limit = n
	}
	ns, err := s.o.Service.Notifications(r.Context(), f)
	if err != nil {
		return err
	}
	out := []Notification{}
	for _, n := range ns {
		out = append(out, notificationOut(n))
	}
	return writeJSON(w, http.StatusOK, out)
}

// getState returns the whole reference data in the state file's schema,
// secrets left out. Registration tokens carry the time they have left.
func (s *Server) getState(w http.ResponseWriter, r *http.Request) error {
	st := s.o.Service.Catalog().State()
	now := s.now()
	out := State{Region: st.Region}
	if out.Region == "" {
		out.Region = s.o.Service.Config().Region
	}
	for _, a := range st.Accounts {
		out.Accounts = append(out.Accounts, accountOut(a))
	}
	for _, p := range st.Products {
		out.Products = append(out.Products, productOut(p))
	}
	for _, c := range st.Customers {
		out.Customers = append(out.Customers, customerOut(c, time.Time{}))
	}
	for _, t := range st.RegistrationTokens {
		tok := RegistrationToken{Token: t.Token, Product: t.Product, AccountID: t.AccountID}
		if !t.ExpiresAt.IsZero() {
			ttl := t.ExpiresAt.Sub(now).Round(time.Second)
			if ttl == 0 {
				ttl = -time.Second // expired, or as good as: keep it so
			}
			tok.TTL = ttl.String()
		}
		out.RegistrationTokens = append(out.RegistrationTokens, tok)
	}
	return writeJSON(w, http.StatusOK, out)
}

// applyState applies a whole state file (YAML or JSON), as `meterd serve
// --state` does at start-up: all of it or nothing. ?name= names the file in
// error positions. An access key without a secret keeps the one stored, so
// that GET /admin/v1/state applies again as it is.
func (s *Server) applyState(w http.ResponseWriter, r *http.Request) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxStateBody))
	if err != nil {
		return err
	}
	name := r.URL.Query().Get("name")
	if name == "" {
		name = "state"
	}
	f, err := statefile.Parse(name, data, s.now())
	if err != nil {
		return fileError(name, err)
	}
	cat := s.o.Service.Catalog()
	for i := range f.State.Accounts {
		a := &f.State.Accounts[i]
		for j := range a.AccessKeys {
			k := &a.AccessKeys[j]
			if old, ok := cat.AccessKey(k.ID); ok && k.Secret == "" && old.AccountID == a.ID {
				k.Secret = old.Secret
			}
		}
	}
	if err := s.o.Service.ApplyState(r.Context(), f.State); err != nil {
		if x := f.Explain(err); x != err {
			return fileError(name, x)
		}
		return err
	}
	res := ApplyResult{Accounts: len(f.State.Accounts), Products: len(f.State.Products), Customers: len(f.State.Customers), RegistrationTokens: len(f.State.RegistrationTokens)}
	for _, wn := range f.Warnings {
		res.Warnings = append(res.Warnings, wn.String())
	}
	return writeJSON(w, http.StatusOK, res)
}

// fileError lists a state file's problems with their lines.
func fileError(name string, err error) error {
	var problems []Problem
	var collect func(error)
	collect = func(err error) {
		if fe, ok := err.(*statefile.Error); ok {
			problems = append(problems, Problem{Line: fe.Pos.Line, Path: fe.Path, Message: fe.Message})
			return
		}
		if u, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range u.Unwrap() {
				collect(e)
			}
		}
	}
	collect(err)
	if len(problems) == 0 {
		return err
	}
	e := errorf(http.StatusBadRequest, CodeValidation, "%s is not a valid state file.", name)
	e.Problems = problems
	return e
}
