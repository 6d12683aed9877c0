package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// A stream row talks to its peer over a pipe (the peer's stdin and
// stdout), a Unix socket, or TCP on 127.0.0.1.

// conn is the parent's end of a stream and the peer process behind it.
type conn struct {
	io.Reader
	io.Writer
	close func() error
	peer  *exec.Cmd
}

// finish closes the stream (the peer sees EOF and exits) and waits.
func (c *conn) finish() error {
	c.close()
	return c.peer.Wait()
}

func (c *conn) kill() {
	c.close()
	killPeers([]*exec.Cmd{c.peer})
}

// dial starts a peer of kind connected to us over network and waits for
// its hello byte, trying again if it does not come (see shared.launch).
func (e *env) dial(ctx context.Context, network, kind string, more ...string) (*conn, error) {
	for attempt := 1; ; attempt++ {
		c, err := e.dialOnce(ctx, network, kind, more...)
		if err != nil {
			return nil, err
		}
		if hello(c) {
			return c, nil
		}
		c.kill()
		if attempt == peerAttempts || ctx.Err() != nil {
			return nil, fmt.Errorf("peer did not start within %v, %d times", peerAttempt, attempt)
		}
	}
}

// hello waits up to peerAttempt for the byte a stream peer sends first.
func hello(c *conn) bool {
	got := make(chan bool, 1)
	go func() {
		b := make([]byte, 1)
		_, err := io.ReadFull(c, b)
		got <- err == nil
	}()
	select {
	case ok := <-got:
		return ok
	case <-time.After(peerAttempt):
		return false // the caller kills the peer, which ends the read
	}
}

func (e *env) dialOnce(ctx context.Context, network, kind string, more ...string) (*conn, error) {
	if network == "pipe" {
		return e.dialPipe(ctx, kind, more)
	}
	e.seq++
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(e.dir, fmt.Sprintf("s%d.sock", e.seq))
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	p, err := e.startPeer(ctx, kind, nil, append([]string{"-net", network, "-addr", ln.Addr().String()}, more...)...)
	if err != nil {
		return nil, err
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	select {
	case c := <-accepted:
		if c == nil {
			killPeers([]*exec.Cmd{p})
			return nil, errors.New("accept failed")
		}
		return &conn{Reader: c, Writer: c, close: c.Close, peer: p}, nil
	case <-time.After(peerAttempt):
	case <-ctx.Done():
	}
	ln.Close()
	killPeers([]*exec.Cmd{p})
	return nil, errors.New("peer did not connect in time")
}

func (e *env) dialPipe(ctx context.Context, kind string, more []string) (*conn, error) {
	args := append([]string{"-kind", kind, "-net", "pipe", "-limit", (e.Duration + peerStartLimit + time.Minute).String()}, more...)
	p := e.Peer(ctx, args...)
	w, err := p.StdinPipe()
	if err != nil {
		return nil, err
	}
	r, err := p.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.Stderr = os.Stderr
	p.WaitDelay = 5 * time.Second
	if err := p.Start(); err != nil {
		return nil, err
	}
	return &conn{Reader: r, Writer: w, close: w.Close, peer: p}, nil
}

// streamRoundTrip sends size-byte messages that the peer echoes.
func (e *env) streamRoundTrip(ctx context.Context, network string, size int) (Result, error) {
	c, err := e.dial(ctx, network, "echo-stream", "-size", fmt.Sprint(size))
	if err != nil {
		return Result{Unit: NsPerRoundTrip}, err
	}
	msg, buf := make([]byte, size), make([]byte, size)
	// One exchange first, so that the peer's start-up is not timed.
	if err := exchange(c, msg, buf); err != nil {
		c.kill()
		return Result{}, err
	}
	l := newLatencies()
	for {
		if err := exchange(c, msg, buf); err != nil {
			c.kill()
			return Result{}, err
		}
		if !l.lap(e.Duration) {
			break
		}
	}
	return l.result(), c.finish()
}

func exchange(c *conn, msg, buf []byte) error {
	if _, err := c.Write(msg); err != nil {
		return err
	}
	_, err := io.ReadFull(c, buf)
	return err
}
