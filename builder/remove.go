package builder

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/xbuild/xbuild/builder/store"
	"github.com/xbuild/xbuild/driver"
)

// ErrContextBuilder is a builder that stands for a Docker context: it is
// not xbuild's to remove.
var ErrContextBuilder = errors.New("stands for a Docker context and cannot be removed")

// Remove releases what the builder's nodes created (containers, daemons,
// and their state unless opts.KeepState) and forgets the builder. Every
// node is tried even when one fails; the builder stays in the store while
// any node could not be removed, so the removal can be retried. A builder
// whose file is corrupt (store.ErrCorrupt) is forgotten with nothing
// released, since its nodes are unknown; that is reported on r.Notices.
// A builder that does not exist is ErrUnknownBuilder (a NotFound error).
func (r *Resolver) Remove(ctx context.Context, name string, opts driver.RemoveOptions) error {
	inst, err := r.Resolve(ctx, name)
	if errors.Is(err, store.ErrCorrupt) {
		return r.removeCorrupt(ctx, name, err)
	}
	if err != nil {
		return err
	}
	if inst.FromContext {
		return fmt.Errorf("builder %q %w", inst.Name, ErrContextBuilder)
	}
	var errs []error
	for _, n := range inst.Nodes {
		if err := n.Driver.Remove(ctx, opts); err != nil {
			errs = append(errs, fmt.Errorf("removing node %q of builder %q: %w", n.Name, inst.Name, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return r.Store.UpdateContext(ctx, func(tx *store.Txn) error { return tx.Remove(inst.Name) })
}

// removeCorrupt deletes a builder whose file cannot be read: keeping it
// would leave the name taken with no way to use or free it.
func (r *Resolver) removeCorrupt(ctx context.Context, name string, readErr error) error {
	if err := r.Store.UpdateContext(ctx, func(tx *store.Txn) error { return tx.Remove(name) }); err != nil {
		return err
	}
	w := cmp.Or[io.Writer](r.Notices, os.Stderr)
	fmt.Fprintf(w, "WARNING: builder %q removed, but its nodes could not be stopped since its file could not be read (%v): stop any of its daemons or containers still running by hand\n", name, readErr)
	return nil
}
