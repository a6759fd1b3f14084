export { NAT_CHAIN_PRIORITY, NAT_TABLE, NAT_TABLE_FAMILY, describeNatPools, natSetName, natTransaction, planNat, type NatPlan, type NatPool, type NftObject } from './plan.js';
export { DEFAULT_NFT_COMMAND, isNftMissing, listedObjects, readNatTable, type NftOptions } from './nft.js';
export { NatTable, type NatPassResult, type NatTableOptions, type NatTableStatus } from './table.js';
