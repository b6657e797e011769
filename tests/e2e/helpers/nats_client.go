// A NATS producer or consumer on the nats.go client (Debian's golang-github-nats-io-go-nats-dev),
// for tests/e2e/nats.sh: `sub URL N` subscribes to orders.*, prints "ready" and waits for N
// messages; `pub URL N` publishes N to orders.<i> (the client batches them: 500 go in a few
// writes of up to 32 KiB, which the agent takes in records of capture_bytes). Request-reply:
// `reply URL N` answers N requests on users.get (prints "ready" first), `req URL N` makes N
// requests there, one at a time (nc.Request: a reply subject in its inbox).
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: nats_client pub|sub|req|reply URL N")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[3])
	if err != nil {
		panic(err)
	}
	nc, err := nats.Connect(os.Args[2])
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	if os.Args[1] == "pub" {
		for i := 0; i < n; i++ {
			if err := nc.Publish(fmt.Sprintf("orders.%d", i), []byte("hello")); err != nil {
				panic(err)
			}
		}
		if err := nc.Flush(); err != nil {
			panic(err)
		}
		return
	}
	if os.Args[1] == "req" {
		for i := 0; i < n; i++ {
			if _, err := nc.Request("users.get", []byte(strconv.Itoa(i)), 5*time.Second); err != nil {
				panic(err)
			}
		}
		return
	}
	subject := "orders.*"
	got := make(chan struct{}, n)
	handler := func(*nats.Msg) { got <- struct{}{} }
	if os.Args[1] == "reply" {
		subject = "users.get"
		handler = func(m *nats.Msg) {
			if err := m.Respond([]byte("user " + string(m.Data))); err != nil {
				panic(err)
			}
			got <- struct{}{}
		}
	}
	if _, err := nc.Subscribe(subject, handler); err != nil {
		panic(err)
	}
	if err := nc.Flush(); err != nil {
		panic(err)
	}
	fmt.Println("ready")
	for i := 0; i < n; i++ {
		select {
		case <-got:
		case <-time.After(20 * time.Second):
			fmt.Fprintf(os.Stderr, "received %d of %d\n", i, n)
			os.Exit(1)
		}
	}
	fmt.Println("received", n)
}
