package driver

import "strings"

// WithHostNetworkEntitlement adds to a started daemon's flags, as buildx
// does for the daemons it runs, the network.host entitlement, unless the
// user chose entitlements.
func WithHostNetworkEntitlement(flags []string) []string {
	for _, f := range flags {
		if f == "--allow-insecure-entitlement" || strings.HasPrefix(f, "--allow-insecure-entitlement=") {
			return flags
		}
	}
	return append(flags[:len(flags):len(flags)], "--allow-insecure-entitlement=network.host")
}
