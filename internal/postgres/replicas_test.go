package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/pgtest"
)

// Tests of the optional store interfaces (settings, outbox) and of the
// state fields the conformance suite does not cover yet, each across two
// replicas sharing a database.

// TestSettings: replicas putting a setting at once agree on the first
// value; it stays out of the state.
func TestSettings(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	dbs := []interface {
		PutSettingIfAbsent(ctx context.Context, name, value string) (string, error)
	}{openClosed(t, dsn), openClosed(t, dsn)}
	const n = 10
	got := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			got[i], errs[i] = dbs[i%2].PutSettingIfAbsent(t.Context(), "admin_token_sha256", fmt.Sprint("value-", i))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v != got[0] {
			t.Fatalf("caller %d got %q, caller 0 got %q", i, v, got[0])
		}
	}
	other := openClosed(t, dsn)
	if v, ok, err := other.Setting(t.Context(), "admin_token_sha256"); err != nil || !ok || v != got[0] {
		t.Fatalf("Setting = %q, %v, %v; want %q", v, ok, err, got[0])
	}
	if _, ok, err := other.Setting(t.Context(), "nothing"); err != nil || ok {
		t.Fatalf("Setting of an unset name = %v, %v", ok, err)
	}
	if st, err := other.LoadState(t.Context()); err != nil || st.Region != "" {
		t.Fatalf("LoadState region = %q, %v; settings must not leak into the state", st.Region, err)
	}
}

// TestOnboardingState round-trips the onboarding fields of products and
// customers.
func TestOnboardingState(t *testing.T) {
	t.Parallel()
	db := openClosed(t, pgtest.NewDatabase(t))
	until := time.Date(2026, 4, 1, 0, 0, 0, 123_456_789, time.FixedZone("plus1", 3600))
	st := metering.State{
		Accounts: []metering.Account{{ID: "111111111111"}},
		Products: []metering.Product{
			{Code: "p1", Seller: "111111111111", Type: metering.ProductSaaS, Agreements: metering.AgreementsBoth, Dimensions: []string{"users"},
				FulfillmentURL: "https://seller.example/fulfil", Webhooks: []string{"https://a.example/hook", "https://b.example/hook"}},
			{Code: "p2", Seller: "111111111111", Type: metering.ProductAMI, Agreements: metering.AgreementsLegacy},
		},
		Customers: []metering.Customer{
			{Product: "p1", AccountID: "222222222222", Status: metering.StatusUnsubscribePending, PendingUntil: until, OfferID: "offer-1", FreeTrial: true},
			{Product: "p2", AccountID: "222222222222", Status: metering.StatusSubscribed},
		},
	}
	if err := db.ApplyState(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	got, err := db.LoadState(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := st
	want.Customers = append([]metering.Customer(nil), st.Customers...)
	want.Customers[0].PendingUntil = until.Truncate(time.Millisecond).UTC()
	if !reflect.DeepEqual(got.Products, want.Products) || !reflect.DeepEqual(got.Customers, want.Customers) {
		t.Errorf("LoadState:\n got  %+v\n      %+v\n want %+v\n      %+v", got.Products, got.Customers, want.Products, want.Customers)
	}
}

// TestOutbox: replicas claiming due notifications at once never claim one
// twice; recorded outcomes and the listing read back.
func TestOutbox(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	a, b := openClosed(t, dsn), openClosed(t, dsn)
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	const n = 40
	ns := make([]metering.Notification, n)
	for i := range ns {
		ns[i] = metering.Notification{
			ID: fmt.Sprintf("n-%02d", i), ProductCode: []string{"p1", "p2"}[i%2], URL: "https://hook.example/",
			Action: "subscribe-success", Body: []byte(fmt.Sprintf(`{"i":%d}`, i)),
			CreatedAt: now.Add(time.Duration(i) * time.Second), NotBefore: now,
			Status: metering.DeliveryPending, NextAttempt: now.Add(time.Duration(i%3) * time.Minute),
		}
	}
	if err := a.Enqueue(t.Context(), ns); err != nil {
		t.Fatal(err)
	}

	// At now+1m, the notifications with i%3 < 2 are due.
	claimed := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for w := range 8 {
		db := []interface {
			ClaimDue(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]metering.Notification, error)
		}{a, b}[w%2]
		wg.Go(func() {
			for range 10 {
				got, err := db.ClaimDue(t.Context(), now.Add(time.Minute), time.Hour, 3)
				if err != nil {
					errs[w] = err
					return
				}
				mu.Lock()
				for _, n := range got {
					claimed[n.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	due := 0
	for i := range n {
		if i%3 < 2 {
			due++
		}
	}
	if len(claimed) != due {
		t.Errorf("claimed %d distinct notifications, want %d", len(claimed), due)
	}
	for id, c := range claimed {
		if c != 1 {
			t.Errorf("%s claimed %d times", id, c)
		}
	}

	done := ns[0]
	done.Status, done.Attempts, done.DeliveredAt, done.LastError = metering.DeliveryDelivered, 1, now.Add(90*time.Second), ""
	if err := b.Record(t.Context(), done); err != nil {
		t.Fatal(err)
	}
	list, err := a.Notifications(t.Context(), metering.NotificationFilter{ProductCode: "p1", Status: metering.DeliveryDelivered})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != "n-00" || string(list[0].Body) != `{"i":0}` || !list[0].DeliveredAt.Equal(done.DeliveredAt) || list[0].Attempts != 1 {
		t.Errorf("delivered notifications of p1 = %+v", list)
	}
	list, err = a.Notifications(t.Context(), metering.NotificationFilter{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].ID != "n-39" || list[2].ID != "n-37" {
		t.Errorf("newest three = %+v", list)
	}
}
