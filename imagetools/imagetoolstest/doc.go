// Package imagetoolstest is the conformance suite for imagetools.Source.
// Each implementation's tests call Run against its real backend, the
// registry or the containerd store of hack/env, so every Source is held to
// the same contract: an image resolves to its index with all its
// platforms, a missing image or blob is errdefs NotFound and a bad name
// InvalidArgument, blobs read back match their descriptors (DataLoss when
// they cannot), reads may run concurrently, and a cancelled call returns
// at once with the context's error.
//
// The suite needs the daemons of hack/env and never skips: a missing
// daemon is a failure of the caller's setup, reported through Getenv.
package imagetoolstest
