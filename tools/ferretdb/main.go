// Command ferretdb-test runs an embedded FerretDB (SQLite backend) that speaks
// the MongoDB wire protocol. It is used only as a throw-away test server by the
// Python test fixtures; it listens on loopback only.
//
// Usage:
//
//	ferretdb-test -listen-addr 127.0.0.1:PORT -data-dir DIR [-log-level error] [-serialize=true]
//
// PORT may be 0: the chosen port is then printed on the "ready" line.
// Once the TCP listener is bound, one line is printed to stdout:
//
//	ready mongodb://127.0.0.1:PORT/
//
// SIGTERM or SIGINT stops the server gracefully (exit status 0).
//
// By default (-serialize=true) FerretDB listens on a private loopback port and
// this program fronts it with a tiny MongoDB-wire proxy that forwards one
// request at a time (global lock held from request to reply). FerretDB v1's
// SQLite handler does updates as read-then-write without a transaction, so
// concurrent $inc / conditional findAndModify lose updates or have several
// winners; serializing restores MongoDB's single-document atomicity.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb-test:", err)
		os.Exit(1)
	}
}

func run() error {
	listenAddr := flag.String("listen-addr", "", "TCP address to listen on, loopback only (required), e.g. 127.0.0.1:27017; port 0 picks a free port")
	dataDir := flag.String("data-dir", "", "directory for the SQLite databases (required; created if missing)")
	logLevel := flag.String("log-level", "error", "log level: debug, info, warn or error")
	serialize := flag.Bool("serialize", true, "run requests one at a time (makes single-document updates atomic)")
	flag.Parse()

	if flag.NArg() != 0 {
		return fmt.Errorf("unexpected arguments: %q", flag.Args())
	}

	if err := checkLoopback(*listenAddr); err != nil {
		return err
	}

	if *dataDir == "" {
		return fmt.Errorf("-data-dir is required")
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("bad -log-level %q: %w", *logLevel, err)
	}

	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		return err
	}

	if err = os.MkdirAll(dir, 0o700); err != nil {
		return err
	}

	// file:///abs/dir/ with proper escaping; FerretDB requires a trailing slash.
	sqliteURL := (&url.URL{Scheme: "file", Path: dir + "/"}).String()

	// Install signal handling before anything slow, so an early SIGTERM is graceful too.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ferretAddr := *listenAddr
	var front net.Listener
	if *serialize {
		// Bind the public address first so that a busy port fails fast.
		if front, err = net.Listen("tcp", *listenAddr); err != nil {
			return err
		}
		defer front.Close()

		ferretAddr = "127.0.0.1:0"
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: ferretAddr},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
	})
	if err != nil {
		return err
	}

	if !*serialize {
		// The listener is already bound by New, so clients can connect now.
		fmt.Println("ready", f.MongoDBURI())
		return f.Run(ctx)
	}

	// f.MongoDBURI() is only safe to call once FerretDB's listener exists,
	// which New guarantees; it gives the private backend address.
	backendURI, err := url.Parse(f.MongoDBURI())
	if err != nil {
		return err
	}

	ferretCtx, ferretCancel := context.WithCancel(context.Background())
	ferretDone := make(chan error, 1)
	go func() { ferretDone <- f.Run(ferretCtx) }()

	p := &proxy{backend: backendURI.Host, conns: map[net.Conn]struct{}{}}
	proxyDone := make(chan struct{})
	go func() {
		p.serve(front)
		close(proxyDone)
	}()

	fmt.Println("ready", (&url.URL{Scheme: "mongodb", Host: front.Addr().String(), Path: "/"}).String())

	select {
	case <-ctx.Done():
	case err = <-ferretDone:
		ferretCancel()
		return fmt.Errorf("FerretDB stopped unexpectedly: %v", err)
	}

	front.Close()
	<-proxyDone
	p.closeAll() // waits for the in-flight request, if any
	ferretCancel()

	return <-ferretDone
}

// maxMessageSize bounds one wire message (MongoDB's maxMessageSizeBytes is 48,000,000).
const maxMessageSize = 64 << 20

// proxy forwards MongoDB wire messages to FerretDB, one request at a time.
type proxy struct {
	backend string

	// mu is held from sending a request to FerretDB until its reply is read.
	mu sync.Mutex

	connsMu sync.Mutex
	conns   map[net.Conn]struct{}
	closed  bool
	wg      sync.WaitGroup
}

func (p *proxy) serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // e.g. EMFILE; do not spin
			continue
		}

		if !p.track(c) {
			c.Close()
			return
		}

		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.untrack(c)
			p.handle(c)
		}()
	}
}

func (p *proxy) track(c net.Conn) bool {
	p.connsMu.Lock()
	defer p.connsMu.Unlock()

	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) untrack(c net.Conn) {
	p.connsMu.Lock()
	delete(p.conns, c)
	p.connsMu.Unlock()
	c.Close()
}

// closeAll closes all client connections once no request is in flight,
// and waits for their goroutines.
func (p *proxy) closeAll() {
	p.mu.Lock()
	p.connsMu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.connsMu.Unlock()
	p.mu.Unlock()

	p.wg.Wait()
}

// handle relays request/reply pairs between one client and its own backend connection.
// FerretDB answers every request with exactly one reply (even moreToCome ones).
func (p *proxy) handle(client net.Conn) {
	backend, err := net.Dial("tcp", p.backend)
	if err != nil {
		return
	}
	defer backend.Close()

	for {
		req, err := readMessage(client)
		if err != nil {
			return
		}

		p.mu.Lock()
		_, err = backend.Write(req)
		var res []byte
		if err == nil {
			res, err = readMessage(backend)
		}
		p.mu.Unlock()

		if err != nil {
			return
		}

		if _, err = client.Write(res); err != nil {
			return
		}
	}
}

// readMessage reads one whole wire message (header included).
func readMessage(r io.Reader) ([]byte, error) {
	var lenBuf [4]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return nil, err
	}

	n := int(int32(binary.LittleEndian.Uint32(lenBuf[:])))
	if n < 16 || n > maxMessageSize {
		return nil, fmt.Errorf("invalid message length %d", n)
	}

	msg := make([]byte, n)
	copy(msg, lenBuf[:])
	if _, err := io.ReadFull(r, msg[4:]); err != nil {
		return nil, err
	}

	return msg, nil
}

// checkLoopback makes sure addr is host:port with a loopback host.
func checkLoopback(addr string) error {
	if addr == "" {
		return fmt.Errorf("-listen-addr is required")
	}

	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("bad -listen-addr %q: %w", addr, err)
	}

	if strings.EqualFold(host, "localhost") {
		return nil
	}

	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}

	return fmt.Errorf("-listen-addr %q: only loopback addresses are allowed", addr)
}
