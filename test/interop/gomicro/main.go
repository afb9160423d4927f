// Command gomicro drives go-micro v4's registry (the consul and etcd
// plugins) against a real Consul or etcd, for rxdisco's interoperability
// tests. It prints one line per step on stdout.
//
//	gomicro register consul|etcd ADDR NAME VERSION ID HOST:PORT [k=v ...]
//	    registers one node through go-micro's registry (TTL 6 s, registered
//	    again every 2 s, as a go-micro server does) until stdin closes, then
//	    deregisters; prints "registered", then "deregistered"
//	gomicro watch consul|etcd ADDR NAME
//	    prints what go-micro's GetService returns, as one JSON line of nodes
//	    (sorted by id) each time it changes, until stdin closes
//	gomicro serve consul|etcd ADDR NAME VERSION ID [k=v ...]
//	    runs a go-micro web service (go-micro.dev/v4/web): plain HTTP on
//	    127.0.0.1 and a free port, registered under that address through
//	    go-micro's registry as a go-micro server registers (TTL 6 s,
//	    registered again every 2 s); prints "serving HOST:PORT", then
//	    "registered". It answers GET /hello and GET /hello/<anything> with
//	    the JSON {"service","version","id","path","query"}. When stdin closes
//	    it stops as go-micro does (deregisters, closes its listener), then
//	    lets the requests in flight finish; prints "deregistered".
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/go-micro/plugins/v4/registry/consul"
	"github.com/go-micro/plugins/v4/registry/etcd"
	"go-micro.dev/v4/logger"
	"go-micro.dev/v4/registry"
	"go-micro.dev/v4/web"
)

// node is one go-micro node as the tests compare it.
type node struct {
	ID       string            `json:"id"`
	Address  string            `json:"address"`
	Version  string            `json:"version"`
	Metadata map[string]string `json:"metadata"`
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: gomicro register consul|etcd ADDR NAME VERSION ID HOST:PORT [k=v ...] | watch consul|etcd ADDR NAME | serve consul|etcd ADDR NAME VERSION ID [k=v ...]")
	os.Exit(2)
}

func main() {
	if len(os.Args) < 5 {
		usage()
	}
	var reg registry.Registry
	switch os.Args[2] {
	case "consul":
		reg = consul.NewRegistry(registry.Addrs(os.Args[3]))
	case "etcd":
		reg = etcd.NewRegistry(registry.Addrs(os.Args[3]))
	default:
		usage()
	}
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()

	switch os.Args[1] {
	case "register":
		if len(os.Args) < 8 {
			usage()
		}
		metadata := pairs(os.Args[8:])
		svc := &registry.Service{
			Name:    os.Args[4],
			Version: os.Args[5],
			Nodes:   []*registry.Node{{Id: os.Args[6], Address: os.Args[7], Metadata: metadata}},
		}
		if err := reg.Register(svc, registry.RegisterTTL(6*time.Second)); err != nil {
			fmt.Fprintln(os.Stderr, "register:", err)
			os.Exit(1)
		}
		fmt.Println("registered")
		tick := time.NewTicker(2 * time.Second)
	loop:
		for {
			select {
			case <-stdinClosed:
				break loop
			case <-tick.C:
				if err := reg.Register(svc, registry.RegisterTTL(6*time.Second)); err != nil {
					fmt.Fprintln(os.Stderr, "register again:", err)
				}
			}
		}
		tick.Stop()
		if err := reg.Deregister(svc); err != nil {
			fmt.Fprintln(os.Stderr, "deregister:", err)
			os.Exit(1)
		}
		fmt.Println("deregistered")
	case "watch":
		last := ""
		for {
			services, err := reg.GetService(os.Args[4])
			if err != nil && err != registry.ErrNotFound {
				fmt.Fprintln(os.Stderr, "get service:", err)
			} else {
				nodes := []node{}
				for _, s := range services {
					for _, n := range s.Nodes {
						md := n.Metadata
						if md == nil {
							md = map[string]string{}
						}
						nodes = append(nodes, node{ID: n.Id, Address: n.Address, Version: s.Version, Metadata: md})
					}
				}
				sort.Slice(nodes, func(i, j int) bool { return nodes[i].ID < nodes[j].ID })
				b, _ := json.Marshal(nodes)
				if line := string(b); line != last {
					fmt.Println(line)
					last = line
				}
			}
			select {
			case <-stdinClosed:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	case "serve":
		if len(os.Args) < 7 {
			usage()
		}
		serve(reg, os.Args[4], os.Args[5], os.Args[6], pairs(os.Args[7:]), stdinClosed)
	default:
		usage()
	}
}

// pairs reads k=v arguments into a map.
func pairs(args []string) map[string]string {
	metadata := map[string]string{}
	for _, kv := range args {
		k, v, _ := strings.Cut(kv, "=")
		metadata[k] = v
	}
	return metadata
}

// serve runs one go-micro web service until stdin closes.
func serve(reg registry.Registry, name, version, id string, metadata map[string]string, stop <-chan struct{}) {
	logger.DefaultLogger = logger.NewLogger(logger.WithOutput(os.Stderr), logger.WithLevel(logger.WarnLevel))
	httpServer := &http.Server{}
	service := web.NewService(
		web.Name(name),
		web.Version(version),
		web.Id(id),
		web.Metadata(metadata),
		web.Address("127.0.0.1:0"),
		web.Registry(reg),
		web.RegisterTTL(6*time.Second),
		web.RegisterInterval(2*time.Second),
		web.Server(httpServer),
		web.HandleSignal(false),
	)
	hello := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("content-type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"service": name, "version": version, "id": id, "path": r.URL.Path, "query": r.URL.RawQuery,
		})
	}
	service.HandleFunc("/hello", hello)
	service.HandleFunc("/hello/", hello)
	if err := service.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "start:", err)
		os.Exit(1)
	}
	fmt.Println("serving", service.Options().Address)
	fmt.Println("registered")
	<-stop
	// go-micro's Stop: the registration loop ends, the node is deregistered,
	// the listener closed; then the requests in flight finish.
	if err := service.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := httpServer.Shutdown(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "shutdown:", err)
	}
	fmt.Println("deregistered")
}
