package postgres_test

import (
	"encoding/hex"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/pgtest"
	"github.com/meterd/meterd/internal/postgres"
)

// TestLegacyKeys checks that the migration to binary keys converts the
// keys and fingerprints earlier meterd stored as metering.LegacyKey and
// hex decoding do, so that a retry after an upgrade finds its record.
func TestLegacyKeys(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	if err := postgres.MigrateTo(t.Context(), dsn, 3); err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 3, 1, 19, 15, 30, 0, time.UTC)
	hour := strconv.FormatInt(ts.Truncate(time.Hour).Unix(), 10)
	const digest = "0123456789abcdef0123456789abcdef"
	legacy := []string{
		"bm-product\x1fprod\x1f111111111111\x1fusers\x1f" + hour,
		"bm-license\x1farn:aws:license-manager::1:license:l-1\x1fusers\x1f" + hour,
		"mu-hour\x1fi-1\x1fprod\x1fhosts\x1f" + hour,
		"mu-token\x1fagent-1\x1fprod\x1f5f0c1bde-3f5e-4c1a-9d55-0d3c43c2b0aa",
		"k-not-legacy",
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	for i, key := range legacy {
		_, err := conn.Exec(t.Context(), `INSERT INTO usage_records (key, id, fingerprint, operation, seller, product_code, identity,
		customer_account_id, customer_identifier, license_arn, resource, caller_account_id, access_key_id, client_token,
		dimension, ts, hour, quantity, allocations, created_at)
		VALUES ($1, $2, $3, 'BatchMeterUsage', 's', 'prod', 'product', 'a', '', '', '', 's', 'k', '', 'users', $4, $5, 1, NULL, $4)`,
			key, "id-"+strconv.Itoa(i), digest, ts, ts.Truncate(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
	}
	conn.Close(t.Context())

	db := openClosed(t, dsn)
	fp, _ := hex.DecodeString(digest)
	fp = fp[:metering.FingerprintSize]
	for i, old := range legacy {
		key, ok := metering.LegacyKey(old)
		if !ok {
			key = old
		}
		r := metering.Record{ID: "new", Key: key, Fingerprint: string(fp), Operation: "BatchMeterUsage", Seller: "s",
			ProductCode: "prod", Identity: metering.IdentityProduct, CustomerAccountID: "a", CallerAccountID: "s",
			AccessKeyID: "k", Dimension: "users", Timestamp: ts, Quantity: 1, CreatedAt: ts}
		got, err := db.PutRecords(t.Context(), []metering.Record{r})
		if err != nil {
			t.Fatal(err)
		}
		want := r
		want.ID = "id-" + strconv.Itoa(i)
		if !reflect.DeepEqual(got[0], want) {
			t.Errorf("key %q: a retry after the migration got\n %+v\nwant the stored record\n %+v", old, got[0], want)
		}
	}
}
