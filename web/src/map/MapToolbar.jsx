// Map buttons: fit every vehicle, stop following.
import { useMap } from './mapContext.js';
import { useApp, useTopic } from '../store/context.js';
import { vehicleBounds } from './vehicleFeatures.js';

export default function MapToolbar() {
  const map = useMap();
  const { store } = useApp();
  useTopic('ui');
  const followId = store.ui().followId;

  const fitAll = () => {
    const b = vehicleBounds(store.vehicles());
    if (!b) return;
    store.follow(null);
    map.fitBounds(b, { padding: 60, maxZoom: 15, duration: 600 });
  };

  return (
    <div className="map-toolbar">
      <button onClick={fitAll} data-testid="fit-all">Fit all</button>
      {followId && (
        <button onClick={() => store.follow(null)} data-testid="unfollow">Following {followId} ✕</button>
      )}
    </div>
  );
}
