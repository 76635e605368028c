package builder

import (
	"strings"
	"testing"
)

func TestPlainHTTPRegistries(t *testing.T) {
	toml := []byte("[registry.\"10.0.0.1:5000\"]\n  http = true\n[registry.\"secure.example\"]\n  insecure = true\n[registry.\"b.example:1\"]\n  http = true\n")
	if got := plainHTTPRegistries(toml); strings.Join(got, ",") != "10.0.0.1:5000,b.example:1" {
		t.Fatalf("plainHTTPRegistries = %v", got)
	}
	if got := plainHTTPRegistries([]byte("not = [toml")); got != nil {
		t.Fatalf("a broken config gave %v", got)
	}
}
