// Command etcd-gokit drives go-kit's sd/etcdv3 against a real etcd, for
// rxdisco's interoperability tests. It prints one line per step on stdout.
//
//	etcd-gokit register  ENDPOINT KEY VALUE   registers KEY=VALUE with go-kit's Registrar
//	                                          until stdin closes, then deregisters
//	etcd-gokit instances ENDPOINT PREFIX      prints the Instancer's sets as JSON lines
//	                                          until stdin closes
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/go-kit/kit/sd"
	"github.com/go-kit/kit/sd/etcdv3"
	"github.com/go-kit/log"
)

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: etcd-gokit register ENDPOINT KEY VALUE | instances ENDPOINT PREFIX")
		os.Exit(2)
	}
	logger := log.NewLogfmtLogger(os.Stderr)
	client, err := etcdv3.NewClient(context.Background(), []string{"http://" + os.Args[2]}, etcdv3.ClientOptions{
		DialTimeout:   5 * time.Second,
		DialKeepAlive: 5 * time.Second,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()

	switch os.Args[1] {
	case "register":
		if len(os.Args) != 5 {
			os.Exit(2)
		}
		registrar := etcdv3.NewRegistrar(client, etcdv3.Service{
			Key:   os.Args[3],
			Value: os.Args[4],
			TTL:   etcdv3.NewTTLOption(time.Second, 3*time.Second),
		}, logger)
		registrar.Register()
		fmt.Println("registered")
		<-stdinClosed
		registrar.Deregister()
		fmt.Println("deregistered")
	case "instances":
		instancer, err := etcdv3.NewInstancer(client, os.Args[3], logger)
		if err != nil {
			fmt.Fprintln(os.Stderr, "instancer:", err)
			os.Exit(1)
		}
		events := make(chan sd.Event, 16)
		instancer.Register(events)
		for {
			select {
			case e := <-events:
				if e.Err != nil {
					fmt.Fprintln(os.Stderr, "event error:", e.Err)
					continue
				}
				sorted := append([]string{}, e.Instances...)
				sort.Strings(sorted)
				line, _ := json.Marshal(sorted)
				fmt.Println(string(line))
			case <-stdinClosed:
				instancer.Deregister(events)
				instancer.Stop()
				return
			}
		}
	default:
		os.Exit(2)
	}
}
