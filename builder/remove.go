package builder

import (
	"context"
	"errors"
	"fmt"

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
// that does not exist is ErrUnknownBuilder (a NotFound error).
func (r *Resolver) Remove(ctx context.Context, name string, opts driver.RemoveOptions) error {
	inst, err := r.Resolve(ctx, name)
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
	return r.Store.Update(func(tx *store.Txn) error { return tx.Remove(inst.Name) })
}
