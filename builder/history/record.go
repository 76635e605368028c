package history

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/buildx/localstate"
	"github.com/docker/buildx/util/confutil"
	historyname "github.com/docker/buildx/util/history"
	controlapi "github.com/moby/buildkit/api/services/control"
	"google.golang.org/grpc/codes"
)

// Record is one build record of one node.
type Record struct {
	*controlapi.BuildHistoryRecord
	// Builder and Node are where the record is kept.
	Builder string
	Node    *Node
	// Now is the daemon's clock when it listed the record, how long a
	// running build has taken is measured against it; nil when the daemon
	// did not say.
	Now *time.Time
	// Local is what this side kept about the build (its context and
	// Dockerfile paths); nil when it kept nothing.
	Local *localstate.State
}

// FullRef names the record as the metadata file's buildx.build.ref does:
// BUILDER/NODE/ID.
func (r *Record) FullRef() string { return r.Builder + "/" + r.Node.Name + "/" + r.Ref }

// Status is where a build stands, in the words of buildx's inspect.
type Status string

const (
	StatusRunning   Status = "running"
	StatusCompleted Status = "completed"
	StatusFailed    Status = "failed"
	StatusCanceled  Status = "canceled"
)

// Status says whether the build runs, succeeded, failed or was canceled.
func (r *Record) Status() Status {
	switch {
	case r.Error != nil && codes.Code(r.Error.Code) == codes.Canceled:
		return StatusCanceled
	case r.Error != nil:
		return StatusFailed
	case r.CompletedAt == nil:
		return StatusRunning
	default:
		return StatusCompleted
	}
}

// Duration is how long the build took, or has taken so far by the
// daemon's clock; false when that clock is unknown for a running build.
func (r *Record) Duration() (time.Duration, bool) {
	end := r.Now
	if r.CompletedAt != nil {
		t := r.CompletedAt.AsTime()
		end = &t
	}
	if end == nil || r.CreatedAt == nil {
		return 0, false
	}
	return end.Sub(r.CreatedAt.AsTime()), true
}

// Name is the build's name as buildx shows it: BUILDKIT_BUILD_NAME, else
// made of its context, Dockerfile and target.
func (r *Record) Name() string {
	// buildx's own naming, so a record reads the same in both tools.
	return historyname.BuildName(r.FrontendAttrs, r.Local)
}

// localState reads the build state buildx's localstate package keeps under
// a config folder, when one was written there.
type localState struct {
	ls *localstate.LocalState
}

// openLocalState opens the state under dir without creating it: listing
// records must not write to the config folder.
func openLocalState(dir string) localState {
	if dir == "" {
		return localState{}
	}
	if _, err := os.Stat(filepath.Join(dir, "refs")); err != nil {
		return localState{}
	}
	ls, err := localstate.New(confutil.NewConfig(nil, confutil.WithDir(dir)))
	if err != nil {
		return localState{}
	}
	return localState{ls: ls}
}

// read returns a build's state, nil when none was kept: the state only
// improves names and paths, so a missing or unreadable one is no error.
func (l localState) read(builderName, node, ref string) *localstate.State {
	if l.ls == nil || strings.ContainsAny(ref, `/\`) {
		return nil
	}
	st, err := l.ls.ReadRef(builderName, node, ref)
	if err != nil {
		return nil
	}
	return st
}
