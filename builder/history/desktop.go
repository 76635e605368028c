package history

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/docker/buildx/util/desktop"
)

// ErrNoDesktop is returned by Import where Docker Desktop's build backend
// does not run: BuildKit has no API that adds records to a node's history,
// so Docker Desktop is the one place a bundle can be imported into.
var ErrNoDesktop = errors.New("the build backend of Docker Desktop is not running")

// Link is the Docker Desktop address of a record, BUILDER/NODE/ID.
func Link(fullRef string) string { return desktop.BuildURL(fullRef) }

// Import uploads a bundle to Docker Desktop's build backend, as buildx
// does, and returns the links of the records it imported.
func Import(ctx context.Context, bundleData []byte) ([]string, error) {
	addr, err := desktop.BuildServerAddr()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoDesktop, err)
	}
	sock, ok := strings.CutPrefix(addr, "unix://")
	if !ok {
		return nil, fmt.Errorf("%w: unsupported address %s", ErrNoDesktop, addr)
	}
	if _, err := os.Stat(sock); err != nil {
		return nil, fmt.Errorf("%w (no socket at %s)", ErrNoDesktop, sock)
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://docker-desktop/upload", bytes.NewReader(bundleData))
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoDesktop, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("importing into Docker Desktop: %s", strings.TrimSpace(string(body)))
	}
	var refs []string
	if err := json.NewDecoder(resp.Body).Decode(&refs); err != nil {
		return nil, fmt.Errorf("reading Docker Desktop's answer: %w", err)
	}
	links := make([]string, len(refs))
	for i, r := range refs {
		links[i] = Link(".imported/_/" + r)
	}
	return links, nil
}

// DesktopRunning reports whether Docker Desktop's build backend has been
// used on this machine, which is when its links open anything.
func DesktopRunning() bool { return desktop.BuildBackendEnabled() }
