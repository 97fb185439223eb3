package sqlite_test

import (
	"database/sql"
	"encoding/hex"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/sqlite"
)

// TestLegacyRecords checks that records stored by meterd before
// metering's KeySize-byte keys (text keys with the hour last, hex
// fingerprints) are found by the keys and fingerprints meterd makes now,
// so that a retry after an upgrade is not counted twice.
func TestLegacyRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meterd.db")
	if err := sqlite.MigrateTo(t.Context(), path, 3); err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 3, 1, 19, 15, 30, 0, time.UTC)
	digest := "0123456789abcdef0123456789abcdef"
	r := metering.Record{
		ID:                 "5f0c1bde-3f5e-4c1a-9d55-0d3c43c2b0aa",
		Key:                "bm-product\x1fprod\x1f111111111111\x1fusers\x1f" + strconv.FormatInt(ts.Truncate(time.Hour).Unix(), 10),
		Fingerprint:        digest,
		Operation:          "BatchMeterUsage",
		Seller:             "999999999999",
		ProductCode:        "prod",
		Identity:           metering.IdentityProduct,
		CustomerAccountID:  "111111111111",
		CustomerIdentifier: "cust-1",
		CallerAccountID:    "999999999999",
		AccessKeyID:        "AKIA",
		Dimension:          "users",
		Timestamp:          ts,
		Quantity:           3,
		CreatedAt:          ts,
	}
	insertLegacy(t, path, []metering.Record{r})
	db := open(t, path)
	defer db.Close()

	newKey, ok := metering.LegacyKey(r.Key)
	if !ok {
		t.Fatal("LegacyKey refused a legacy key")
	}
	fp, _ := hex.DecodeString(digest)
	fp = fp[:metering.FingerprintSize]
	want := r
	want.Key, want.Fingerprint = newKey, string(fp)

	retry := want
	retry.ID = "00000000-0000-4000-8000-000000000001"
	got, err := db.PutRecords(t.Context(), []metering.Record{retry})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("retry after the upgrade got\n %+v\nwant the stored record\n %+v", got[0], want)
	}
	rows, err := db.UsageSummary(t.Context(), metering.UsageFilter{})
	if err != nil || len(rows) != 1 || rows[0].Records != 1 {
		t.Errorf("UsageSummary = %+v, %v; want one record", rows, err)
	}
}

// TestDerivedIDs checks that a record whose MeteringRecordId is
// metering.RecordID of its key, which the store keeps in no bytes, shows
// that id in the usage_records view (for the sqlite3 shell and anyone
// reading the file) and reads back with it, and that other ids are kept.
func TestDerivedIDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meterd.db")
	db := open(t, path)
	defer db.Close()
	var recs []metering.Record
	for i := range 200 {
		r := benchRecord(int64(i) * 7919)
		if i%7 == 0 { // AgentCore's keys hold for any hour
			r.Key = metering.AnyHourKey("mu-token", "workload", r.ProductCode, strconv.Itoa(i))
			r.ID = metering.RecordID(r.Key)
		}
		if i%10 == 0 {
			r.ID = "5f0c1bde-3f5e-4c1a-9d55-" + strconv.Itoa(100000000000+i)
		}
		recs = append(recs, r)
	}
	if _, err := db.PutRecords(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, r := range recs {
		var id string
		var stored int
		if err := raw.QueryRow(`SELECT v.id, length(u.id) FROM usage_records AS v JOIN usage_rows AS u ON u.rowid = v.rowid WHERE v.key = ?`,
			[]byte(r.Key)).Scan(&id, &stored); err != nil {
			t.Fatal(err)
		}
		if id != r.ID {
			t.Errorf("usage_records shows id %s, want %s", id, r.ID)
		}
		if derived := r.ID == metering.RecordID(r.Key); derived != (stored == 0) {
			t.Errorf("id %s (derived %v) is stored in %d bytes", r.ID, derived, stored)
		}
	}
	again, err := db.PutRecords(t.Context(), recs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if again[i].ID != recs[i].ID {
			t.Errorf("record %d read back with id %s, want %s", i, again[i].ID, recs[i].ID)
		}
	}
}
