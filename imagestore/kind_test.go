package imagestore

import (
	"testing"

	"github.com/moby/moby/api/types/system"
)

func TestFromInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   [][2]string
		want Kind
	}{
		{name: "overlay2", in: [][2]string{{"Backing Filesystem", "extfs"}, {"Supports d_type", "true"}}, want: Classic},
		{name: "snapshotter", in: [][2]string{{"driver-type", "io.containerd.snapshotter.v1"}}, want: Containerd},
		{name: "empty", in: nil, want: Classic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := FromInfo(system.Info{DriverStatus: tt.in}); got != tt.want {
				t.Errorf("FromInfo(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
