package driver

import (
	"context"
	"fmt"
)

type bootLogKey struct{}

// WithBootLog returns ctx carrying log, which a bootstrap that waits (for
// pods to start, an image to pull) tells what it waits for.
func WithBootLog(ctx context.Context, log func(string)) context.Context {
	return context.WithValue(ctx, bootLogKey{}, log)
}

// BootLog tells the display of the bootstrap running under ctx what it
// waits for; nothing happens when none listens.
func BootLog(ctx context.Context, format string, args ...any) {
	if log, ok := ctx.Value(bootLogKey{}).(func(string)); ok {
		log(fmt.Sprintf(format, args...))
	}
}
