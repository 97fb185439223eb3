package metering

import "context"

// SettingsStore keeps named scalar settings that belong to the deployment
// rather than to the reference data, such as the hash of the admin API's
// bearer token. A store that keeps them implements it beside Store.
type SettingsStore interface {
	// Setting returns the value stored under name and whether there is one.
	Setting(ctx context.Context, name string) (string, bool, error)
	// PutSettingIfAbsent stores value under name unless a value is stored
	// already, and returns the value stored afterwards: value when it was
	// absent, the earlier one otherwise. Concurrent replicas thus agree on
	// the first value written.
	PutSettingIfAbsent(ctx context.Context, name, value string) (string, error)
}
