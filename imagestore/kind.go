package imagestore

import (
	"context"
	"fmt"

	"github.com/moby/moby/api/types/system"
	dockerclient "github.com/moby/moby/client"
)

// Kind names an engine's image store.
type Kind string

const (
	// Unknown is the zero Kind: the engine could not be asked, or there is
	// no engine behind the builder.
	Unknown Kind = ""
	// Classic is the graph-driver store (overlay2, ...): one image per name,
	// no indexes.
	Classic Kind = "classic"
	// Containerd is the snapshotter-backed store: indexes, every platform,
	// attestations.
	Containerd Kind = "containerd"
)

// snapshotterDriverType is what the engine reports in /info DriverStatus
// under "driver-type" when its images live in containerd.
const snapshotterDriverType = "io.containerd.snapshotter.v1"

// String returns the kind as users see it; "unknown" for the zero value.
func (k Kind) String() string {
	if k == Unknown {
		return "unknown"
	}
	return string(k)
}

// HoldsIndexes reports whether the store keeps an image index with all its
// platforms and attestation manifests.
func (k Kind) HoldsIndexes() bool { return k == Containerd }

// InfoGetter is the one engine call detection needs.
type InfoGetter interface {
	Info(ctx context.Context, options dockerclient.InfoOptions) (dockerclient.SystemInfoResult, error)
}

// Detect asks the engine which image store it runs.
func Detect(ctx context.Context, engine InfoGetter) (Kind, error) {
	res, err := engine.Info(ctx, dockerclient.InfoOptions{})
	if err != nil {
		return Unknown, fmt.Errorf("reading engine info: %w", err)
	}
	return FromInfo(res.Info), nil
}

// FromInfo reads the store kind out of an engine's /info answer.
func FromInfo(info system.Info) Kind {
	for _, kv := range info.DriverStatus {
		if kv[0] == "driver-type" && kv[1] == snapshotterDriverType {
			return Containerd
		}
	}
	return Classic
}
