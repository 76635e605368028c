// Package bake reads bake definitions (docker-bake.hcl, JSON, compose files)
// with buildx's own bake package, so files written for buildx mean exactly
// the same here, and turns the resolved targets into builder jobs.
package bake
