/** The Kubernetes backend on an API server over Debian's etcd 3.4 (`--feature-gates=WatchList=false`). */
import { expectNoLeakedHandles } from '../../helpers/handles.js';
import { endpointCases } from './endpoints.cases.js';

expectNoLeakedHandles();
endpointCases('3.4');
