package builder

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xbuild/xbuild/builder/store"
	"github.com/xbuild/xbuild/driver"
)

func TestRemoveCorrupt(t *testing.T) {
	t.Parallel()
	st, err := store.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(st.Dir(), "instances", "cut")
	if err := os.WriteFile(p, []byte(`{"Name":"cut","Driver":"rem`), 0o600); err != nil {
		t.Fatal(err)
	}
	var notices bytes.Buffer
	r := &Resolver{Store: st, Drivers: driver.NewRegistry(), Getenv: func(string) string { return "" }, Notices: &notices}
	if err := r.Remove(context.Background(), "cut", driver.RemoveOptions{}); err != nil {
		t.Fatalf("Remove(cut) = %v, want the corrupt builder removed", err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Remove(cut) left %s: %v", p, err)
	}
	if !strings.Contains(notices.String(), "could not be stopped") {
		t.Errorf("Remove(cut) notices = %q, want it to say the nodes could not be stopped", notices.String())
	}
}
