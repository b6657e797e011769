// A Go HTTPS server and client on the standard library only (crypto/tls compiled in), for
// tests/e2e/go_tls.sh:
//
//	go_tls serve PORT          TLS on 127.0.0.1:PORT with a certificate made at start (HTTP/2 by
//	                           ALPN, or HTTP/1.1): /items/* answers 200 "PROTO PATH", anything
//	                           else 404; prints "ready" once listening
//	go_tls get URL N h1|h2     N GETs in turn on one connection (HTTP/1.1, or HTTP/2 by ALPN):
//	                           /items/I, every fifth /missing; prints "PROTO ok=A missing=B"
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

func certificate() tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	tmpl := x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &key.PublicKey, key)
	check(err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func serve(port string) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/items/") {
			fmt.Fprintf(w, "%s %s\n", r.Proto, r.URL.Path)
			return
		}
		http.NotFound(w, r)
	})
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{certificate()}}}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	check(err)
	fmt.Println("ready")
	check(srv.ServeTLS(ln, "", ""))
}

func get(url string, n int, proto string) {
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: 1}
	want := "HTTP/2.0"
	if proto == "h1" {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{} // no HTTP/2
		want = "HTTP/1.1"
	} else {
		tr.ForceAttemptHTTP2 = true
	}
	c := &http.Client{Transport: tr}
	ok, missing := 0, 0
	for i := 0; i < n; i++ {
		path := fmt.Sprintf("/items/%d", i)
		if i%5 == 4 {
			path = "/missing"
		}
		resp, err := c.Get(url + path)
		check(err)
		_, err = io.Copy(io.Discard, resp.Body)
		check(err)
		resp.Body.Close()
		if resp.Proto != want {
			check(fmt.Errorf("%s answered in %s, want %s", path, resp.Proto, want))
		}
		switch resp.StatusCode {
		case 200:
			ok++
		case 404:
			missing++
		}
	}
	fmt.Printf("%s ok=%d missing=%d\n", want, ok, missing)
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "serve" {
		serve(os.Args[2])
		return
	}
	if len(os.Args) == 5 && os.Args[1] == "get" {
		n, err := strconv.Atoi(os.Args[3])
		check(err)
		get(os.Args[2], n, os.Args[4])
		return
	}
	fmt.Fprintln(os.Stderr, "usage: go_tls serve PORT | go_tls get URL N h1|h2")
	os.Exit(2)
}
