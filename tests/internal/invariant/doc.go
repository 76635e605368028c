// Package invariant checks what must hold after anything goes wrong during
// a build: images a store names are complete (I1) and a tag points at its
// old or its new image (I2), builder state is whole and unlocked (I3), no
// secret is shown anywhere (I6), and no process of a cancelled step is
// left. Each check returns the violations it found, never a bare error, so
// that a test can report every one and count them.
package invariant
