// node-zookeeper-client ships no types; the backend types the slice it uses in zk-client.ts.
declare module 'node-zookeeper-client';
