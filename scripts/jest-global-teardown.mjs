export default async function teardown() {
  const etcd = globalThis.__terraceEtcd;
  if (etcd) await etcd.stop();
}
