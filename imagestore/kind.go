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
	d, err := Describe(ctx, engine)
	return d.Kind, err
}

// Description is what an engine says of its image store.
type Description struct {
	Kind Kind
	// Location is where the images live on the containerd store; zero on
	// the classic store.
	Location Location
}

// Location places an image store inside a containerd.
type Location struct {
	// Address is the containerd socket, as a path on the engine's host.
	Address   string
	Namespace string
	// Snapshotter is the snapshotter images are unpacked into.
	Snapshotter string
}

// Describe asks the engine which image store it runs and, for the
// containerd store, where that containerd is.
func Describe(ctx context.Context, engine InfoGetter) (Description, error) {
	res, err := engine.Info(ctx, dockerclient.InfoOptions{})
	if err != nil {
		return Description{}, fmt.Errorf("reading engine info: %w", err)
	}
	d := Description{Kind: FromInfo(res.Info)}
	if d.Kind == Containerd && res.Info.Containerd != nil {
		d.Location = Location{
			Address:     res.Info.Containerd.Address,
			Namespace:   res.Info.Containerd.Namespaces.Containers,
			Snapshotter: res.Info.Driver,
		}
	}
	return d, nil
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
