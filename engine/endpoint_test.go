package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCurrent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeContext(t, dir, "remote-box", `{"Name":"remote-box","Endpoints":{"docker":{"Host":"tcp://10.1.2.3:2376","SkipTLSVerify":false}}}`)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"currentContext":"remote-box"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    Endpoint
		wantErr error
	}{
		{name: "DOCKER_HOST wins", env: map[string]string{"DOCKER_HOST": "unix:///x.sock", "DOCKER_CONTEXT": "remote-box"}, want: Endpoint{Context: "default", Host: "unix:///x.sock"}},
		{name: "DOCKER_CONTEXT", env: map[string]string{"DOCKER_CONTEXT": "remote-box"}, want: Endpoint{Context: "remote-box", Host: "tcp://10.1.2.3:2376"}},
		{name: "current context from config", env: map[string]string{}, want: Endpoint{Context: "remote-box", Host: "tcp://10.1.2.3:2376"}},
		{name: "default context", env: map[string]string{"DOCKER_CONTEXT": "default"}, want: Endpoint{Context: "default", Host: "unix:///var/run/docker.sock"}},
		{name: "unknown context", env: map[string]string{"DOCKER_CONTEXT": "nope"}, wantErr: ErrNoContext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			getenv := func(k string) string {
				if k == "DOCKER_CONFIG" {
					return dir
				}
				return tt.env[k]
			}
			got, err := Current(getenv)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Current() error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Current() = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func writeContext(t *testing.T, dir, name, meta string) {
	t.Helper()
	sum := sha256.Sum256([]byte(name))
	d := filepath.Join(dir, "contexts", "meta", hex.EncodeToString(sum[:]))
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "meta.json"), []byte(meta), 0o600); err != nil {
		t.Fatal(err)
	}
}
