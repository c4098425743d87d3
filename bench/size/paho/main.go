// Command paho is the smallest mutual-TLS publisher on raw
// paho.mqtt.golang, the yardstick for ../iotmqtt's size. It is not meant
// to be run.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"os"

	paho "github.com/eclipse/paho.mqtt.golang"
)

func main() {
	ca, err := os.ReadFile(os.Args[2])
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	pair, err := tls.LoadX509KeyPair(os.Args[4], os.Args[3])
	if err != nil {
		panic(err)
	}
	o := paho.NewClientOptions().AddBroker("tls://" + os.Args[1] + ":8883").SetClientID("size").
		SetTLSConfig(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, ServerName: os.Args[1]})
	c := paho.NewClient(o)
	if t := c.Connect(); t.Wait() && t.Error() != nil {
		panic(t.Error())
	}
	c.Publish("size", 1, false, []byte("x")).Wait()
	c.Disconnect(100)
}
