// An HTTP server that speaks HTTP/1.1 and h2c, by prior knowledge or by the HTTP/1.1 Upgrade
// (golang.org/x/net/http2/h2c, Debian's golang-golang-x-net-dev), for tests/e2e/h2c_upgrade.sh:
// `h2c_server PORT`; /missing answers 404, anything else 200 with its protocol and path.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

func main() {
	l, err := net.Listen("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		panic(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		fmt.Fprintf(w, "%s %s\n", r.Proto, r.URL.Path)
	})
	fmt.Println("ready")
	panic((&http.Server{Handler: h2c.NewHandler(h, &http2.Server{})}).Serve(l))
}
