package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
)

// errFixtureSkipped is what fixtureRun returns when a fixture skipped: a tool, root or
// the mirror is missing; the message printed before it says which.
var errFixtureSkipped = errors.New("a fixture could not be built here (see the message above)")

// commandTB lets a command call internal/fixture, whose helpers take a testing.TB: logs
// go to stderr, and Skip or Fatal end the call with a panic that fixtureRun recovers.
// Methods the fixtures do not call are left to the embedded nil TB.
type commandTB struct {
	testing.TB
	failed   bool
	skipped  bool
	cleanups []func()
	tempDirs []string
}

// fixtureStop is the panic value that ends a fixture call after Skip or Fatal.
type fixtureStop struct{}

// fixtureRun calls f with a commandTB and runs its cleanups afterwards. It returns
// errFixtureSkipped or an error for a fatal failure.
func fixtureRun(f func(tb testing.TB)) (err error) {
	tb := &commandTB{}
	defer func() {
		for i := len(tb.cleanups) - 1; i >= 0; i-- {
			tb.cleanups[i]()
		}
		for _, dir := range tb.tempDirs {
			_ = os.RemoveAll(dir)
		}
	}()
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(fixtureStop); !ok {
				panic(r)
			}
		}
		switch {
		case tb.skipped:
			err = errFixtureSkipped
		case tb.failed:
			err = errors.New("a fixture failed (see the message above)")
		}
	}()
	f(tb)
	return nil
}

func (tb *commandTB) Helper()                    {}
func (tb *commandTB) Name() string               { return "bench-patch" }
func (tb *commandTB) Log(args ...any)            { fmt.Fprintln(os.Stderr, args...) }
func (tb *commandTB) Logf(f string, args ...any) { fmt.Fprintf(os.Stderr, f+"\n", args...) }
func (tb *commandTB) Error(args ...any)          { tb.Log(args...); tb.failed = true }
func (tb *commandTB) Errorf(f string, args ...any) {
	tb.Logf(f, args...)
	tb.failed = true
}
func (tb *commandTB) Fail()             { tb.failed = true }
func (tb *commandTB) FailNow()          { tb.failed = true; panic(fixtureStop{}) }
func (tb *commandTB) Failed() bool      { return tb.failed }
func (tb *commandTB) Fatal(args ...any) { tb.Log(args...); tb.FailNow() }
func (tb *commandTB) Fatalf(f string, args ...any) {
	tb.Logf(f, args...)
	tb.FailNow()
}
func (tb *commandTB) Skip(args ...any) { tb.Log(args...); tb.SkipNow() }
func (tb *commandTB) Skipf(f string, args ...any) {
	tb.Logf("skipped: "+f, args...)
	tb.SkipNow()
}
func (tb *commandTB) SkipNow()                 { tb.skipped = true; panic(fixtureStop{}) }
func (tb *commandTB) Skipped() bool            { return tb.skipped }
func (tb *commandTB) Cleanup(f func())         { tb.cleanups = append(tb.cleanups, f) }
func (tb *commandTB) Context() context.Context { return context.Background() }
func (tb *commandTB) Output() io.Writer        { return os.Stderr }
func (tb *commandTB) Setenv(key, value string) { _ = os.Setenv(key, value) }

// TempDir returns a new directory, removed when the fixture call ends.
func (tb *commandTB) TempDir() string {
	dir, err := os.MkdirTemp("", "refit-bench-fixture-")
	if err != nil {
		tb.Fatalf("creating a temporary directory: %v", err)
	}
	tb.tempDirs = append(tb.tempDirs, dir)
	return dir
}
