package local

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestUnescapeMount(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{in: "/a/b", want: "/a/b"},
		{in: `/a\040b`, want: "/a b"},
		{in: `/a\134b\011`, want: "/a\\b\t"},
		{in: `/a\04`, want: `/a\04`},
	}
	for _, tt := range tests {
		if got := unescapeMount(tt.in); got != tt.want {
			t.Errorf("unescapeMount(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestUnmountUnder stacks and nests mounts under a root, as a killed
// daemon leaves them, and checks that the folder can then be removed.
func TestUnmountUnder(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("mounting needs root")
	}
	root := filepath.Join(t.TempDir(), "with space")
	inner := filepath.Join(root, "state", "executor", "x", "rootfs")
	if err := os.MkdirAll(inner, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{inner, inner, filepath.Join(inner, "proc")} {
		_ = os.MkdirAll(p, 0o700)
		if err := syscall.Mount("tmpfs", p, "tmpfs", 0, ""); err != nil {
			t.Skipf("mounting tmpfs on %s: %v", p, err)
		}
		t.Cleanup(func() { _ = syscall.Unmount(p, syscall.MNT_DETACH) })
	}
	if err := os.WriteFile(filepath.Join(inner, "busy"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := unmountUnder(root); err != nil {
		t.Fatalf("unmountUnder(%s) = %v", root, err)
	}
	if left, err := mountsUnder(root); err != nil || len(left) > 0 {
		t.Errorf("mountsUnder(%s) = %v, %v after unmounting, want none", root, left, err)
	}
	if err := os.RemoveAll(root); err != nil {
		t.Errorf("RemoveAll(%s) = %v", root, err)
	}
}
